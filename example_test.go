package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/fanoutbridge/bridge"
)

// The seed example: a destination function gets the normalized items of
// every batch. Pipelines run on an embedded NATS server by default.
func Example() {
	dir, _ := os.MkdirTemp("", "bridge-example")
	defer os.RemoveAll(dir)

	dest := bridge.NewDestination("my_destination",
		func(ctx context.Context, items []bridge.Row, table bridge.Table) error {
			fmt.Println(table.Name, items)
			return nil
		},
		bridge.BatchSize(10))

	p, err := bridge.NewPipeline("custom_destination_pipeline", dest, bridge.WithDataDir(dir))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	info, err := p.Run(context.Background(), []any{1, 2, 3}, bridge.TableName("items"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(info.Items(), "items in", info.Batches(), "batch")
	// Output:
	// items [map[value:1] map[value:2] map[value:3]]
	// 3 items in 1 batch
}

// A destination returns an error to have the batch retried, and marks errors
// that retrying cannot fix with bridge.Terminal: those batches go to the
// dead-letter stream and the rest of the load goes on.
func ExampleTerminal() {
	dir, _ := os.MkdirTemp("", "bridge-example")
	defer os.RemoveAll(dir)

	dest := bridge.NewDestination("api", func(ctx context.Context, items []bridge.Row, table bridge.Table) error {
		if items[0]["id"] == int64(2) {
			return bridge.Terminal(fmt.Errorf("422: id 2 is rejected"))
		}
		return nil
	}, bridge.BatchSize(1))
	p, _ := bridge.NewPipeline("dead_letters", dest, bridge.WithDataDir(dir))
	defer p.Close()
	items := []any{map[string]any{"id": 1}, map[string]any{"id": 2}, map[string]any{"id": 3}}
	info, err := p.Run(context.Background(), items, bridge.TableName("users"))
	fmt.Println("delivered:", info.Items())
	fmt.Println("dead letters:", len(info.DeadLetters), info.DeadLetters[0].Err)
	fmt.Println(errors.Is(err, bridge.ErrDeadLettered))

	dead, _ := p.DeadLetters(context.Background(), bridge.DeadLetterFilter{Table: "users"})
	fmt.Println("stored:", len(dead), dead[0].Reason)
	// Output:
	// delivered: 2
	// dead letters: 1 422: id 2 is rejected
	// true
	// stored: 1 terminal
}
