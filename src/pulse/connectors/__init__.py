"""Sources and sinks: files, the synthetic generator, Redis streams, Kafka."""
