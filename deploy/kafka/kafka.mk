# Real Apache Kafka from Maven Central jars (no Docker): see deploy/kafka/README.md.
# The jars are downloaded once into .kafka/lib; data and logs live in .kafka/single and .kafka/cluster.
KAFKA_SH := deploy/kafka/kafka.sh

.PHONY: kafka-up kafka-down kafka-status kafka-cluster-up kafka-cluster-down \
	kafka-node-start kafka-node-stop kafka-node-kill kafka-clean kafka-jars

## kafka-up: start a real single-node Kafka on 127.0.0.1:9092 (downloads the jars once)
kafka-up:
	@$(KAFKA_SH) up

## kafka-down: stop the single-node Kafka
kafka-down:
	@$(KAFKA_SH) down

## kafka-status: show which local Kafka nodes run
kafka-status:
	@$(KAFKA_SH) status

## kafka-cluster-up: start a real 3-node Kafka cluster on 127.0.0.1:19092,19192,19292
kafka-cluster-up:
	@$(KAFKA_SH) cluster-up

## kafka-cluster-down: stop the 3-node cluster (all nodes together)
kafka-cluster-down:
	@$(KAFKA_SH) cluster-down

## kafka-node-kill N=2: SIGKILL node N of the cluster (fault tests); kafka-node-stop N=2 sends SIGTERM
kafka-node-kill kafka-node-stop kafka-node-start:
	@test -n "$(N)" || { echo "usage: make $@ N=1|2|3" >&2; exit 2; }
	@$(KAFKA_SH) $(patsubst kafka-%,%,$@) $(N)

## kafka-clean: stop every local Kafka node and delete its data (the jars are kept)
kafka-clean:
	@$(KAFKA_SH) clean

## kafka-jars: only download the Kafka jars into .kafka/lib
kafka-jars:
	@$(KAFKA_SH) jars
