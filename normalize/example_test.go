package normalize_test

import (
	"fmt"

	"github.com/fanoutbridge/bridge/normalize"
	"github.com/fanoutbridge/bridge/schema"
)

func ExampleNormalizer() {
	n, err := normalize.New(normalize.Config{Naming: normalize.SnakeCase, MaxNesting: 1}, nil)
	if err != nil {
		panic(err)
	}
	items := []any{
		map[string]any{
			"userName":  "ann",
			"createdAt": "2026-01-02T03:04:05Z",
			"address":   map[string]any{"city": "Oslo"},
			"tags":      []any{"a", "b"},
			"score":     1,
		},
		map[string]any{"userName": "bob", "score": 2.5, "nickname": nil},
	}
	for _, item := range items {
		err := n.Normalize(item, "Events", func(t *schema.Table, row schema.Row) error {
			fmt.Println(t.Name, row)
			return nil
		})
		if err != nil {
			panic(err)
		}
	}
	for _, t := range n.Tables() {
		for _, c := range t.Columns {
			fmt.Printf("%s.%s %s\n", t.Name, c.Name, c.DataType)
		}
	}
	// Output:
	// events map[address__city:Oslo created_at:2026-01-02 03:04:05 +0000 UTC score:1 user_name:ann]
	// events__tags map[value:a]
	// events__tags map[value:b]
	// events map[score__v_double:2.5 user_name:bob]
	// events.address__city text
	// events.created_at timestamp
	// events.score bigint
	// events.user_name text
	// events.score__v_double double
	// events__tags.value text
}

func ExampleConvention_Identifier() {
	for _, name := range []string{"camelCase", "PErson", "123BaNaNa", "BANANA_", "+-!$*@#=|:"} {
		fmt.Printf("%s -> %s | %s\n", name, normalize.SnakeCase.Identifier(name), normalize.Direct.Identifier(name))
	}
	// Output:
	// camelCase -> camel_case | camelCase
	// PErson -> p_erson | PErson
	// 123BaNaNa -> _123_ba_na_na | 123BaNaNa
	// BANANA_ -> bananax | BANANA_
	// +-!$*@#=|: -> x_xa_lx | +-!$*@#=|:
}
