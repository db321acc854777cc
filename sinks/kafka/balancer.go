package kafka

import (
	"hash/fnv"

	kafkago "github.com/segmentio/kafka-go"
)

// balancer picks a message's partition: by its key (kafka-go's Hash, as
// Sarama hashes), so equal keys share a partition; a message without a key
// goes where the other keyless rows of its batch go, a partition picked by
// the batch id. A batch then fills one produce request instead of a tenth of
// ten that each wait out batch_timeout, and a retry of the batch lands where
// the first attempt did.
type balancer struct {
	keyed kafkago.Hash
}

func (b *balancer) Balance(msg kafkago.Message, partitions ...int) int {
	if msg.Key != nil || len(partitions) == 0 {
		return b.keyed.Balance(msg, partitions...)
	}
	h := fnv.New32a()
	for _, hd := range msg.Headers {
		if hd.Key == HeaderBatchID {
			_, _ = h.Write(hd.Value)
			break
		}
	}
	return partitions[h.Sum32()%uint32(len(partitions))]
}
