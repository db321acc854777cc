package producer_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/fanoutbridge/bridge/producer"
)

func ExampleReadJSONL() {
	in := strings.NewReader("{\"id\":1,\"name\":\"a\"}\r\n\nnot json\n[1,2.5]\n\"last line\"")
	err := producer.ReadJSONL(context.Background(), in, producer.JSONLOptions{},
		func(items []any) error {
			for _, it := range items {
				fmt.Printf("%T %v\n", it, it)
			}
			return nil
		},
		func(bad *producer.LineError) { fmt.Println("bad:", bad) })
	fmt.Println("err:", err)
	// Output:
	// bad: line 3: invalid character 'o' in literal null (expecting 'u')
	// map[string]interface {} map[id:1 name:a]
	// []interface {} [1 2.5]
	// string last line
	// err: <nil>
}
