package bridge

import (
	"reflect"
	"strings"
	"testing"
)

// TestNameCollisionsKeepEveryValue runs keys that normalize to one name
// through a pipeline: every value arrives, under the documented names, and a
// second run (a new pipeline object, so the names come from the schema
// stored in NATS) names every key as the first did.
func TestNameCollisionsKeepEveryValue(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		for _, tc := range []struct {
			name   string
			naming Naming
			first  string
			want   map[string][]Row
			second string
			want2  map[string][]Row
		}{
			{
				name:   "direct",
				naming: Direct,
				first:  `{"x\"y":1,"x_y":2,"l\"x":[3],"l_x":[4],"o":{"x\"y":5,"x_y":6}}`,
				want: map[string][]Row{
					"t":        {{"x_y": int64(2), "x_y_2": int64(1), "o__x_y": int64(6), "o__x_y_2": int64(5)}},
					"t__l_x":   {{"value": int64(4)}},
					"t__l_x_2": {{"value": int64(3)}},
				},
				second: `{"x\"y":7,"l\"x":[8],"o":{"x\"y":9}}`,
				want2: map[string][]Row{
					"t":        {{"x_y_2": int64(7), "o__x_y_2": int64(9)}},
					"t__l_x_2": {{"value": int64(8)}},
				},
			},
			{
				name:   "snake_case",
				naming: SnakeCase,
				first:  `{"fooBar":1,"foo_bar":2,"tagList":[3],"tag_list":[4],"o":{"fooBar":5,"foo_bar":6}}`,
				want: map[string][]Row{
					"t":             {{"foo_bar": int64(2), "foo_bar_2": int64(1), "o__foo_bar": int64(6), "o__foo_bar_2": int64(5)}},
					"t__tag_list":   {{"value": int64(4)}},
					"t__tag_list_2": {{"value": int64(3)}},
				},
				second: `{"fooBar":7,"tagList":[8],"o":{"fooBar":9}}`,
				want2: map[string][]Row{
					"t":             {{"foo_bar_2": int64(7), "o__foo_bar_2": int64(9)}},
					"t__tag_list_2": {{"value": int64(8)}},
				},
			},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnv(t, b)
				for i, run := range []struct {
					input string
					want  map[string][]Row
				}{{tc.first, tc.want}, {tc.second, tc.want2}} {
					rec := &recorder{}
					p := e.open(NewDestination("d", rec.fn, NamingConvention(tc.naming), MaxTableNesting(1), BatchSize(100)))
					if _, err := p.Run(ctxT(t), strings.NewReader(run.input+"\n"), TableName("t")); err != nil {
						t.Fatalf("run %d: %v", i+1, err)
					}
					if got := rec.byTable(); !reflect.DeepEqual(got, run.want) {
						t.Fatalf("run %d: got %v, want %v", i+1, got, run.want)
					}
					p.Close()
				}
			})
		}
	})
}
