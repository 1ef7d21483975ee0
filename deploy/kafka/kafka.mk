# Real Apache Kafka from Maven Central jars: see deploy/kafka/README.md.
