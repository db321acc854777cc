package exec_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/fanoutbridge/bridge/sinks/exec"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"exec:python3 my_dest.py", []string{"python3", "my_dest.py"}},
		{"python3 my_dest.py", []string{"python3", "my_dest.py"}},
		{"  prog \t a\n b  ", []string{"prog", "a", "b"}},
		{`prog 'two words' "and more"`, []string{"prog", "two words", "and more"}},
		{`prog --name='Zoë "Z"' "it's"`, []string{"prog", `--name=Zoë "Z"`, "it's"}},
		{`prog a'b c'd"e f"g`, []string{"prog", "ab cde fg"}},
		{`prog '' ""`, []string{"prog", "", ""}},
		{`prog "a \" \\ \$ \` + "`" + ` \n"`, []string{"prog", `a " \ $ ` + "` \\n"}},
		{`prog 'no \escapes $here'`, []string{"prog", `no \escapes $here`}},
		{`prog a\ b \'c\' \|`, []string{"prog", "a b", "'c'", "|"}},
		{"prog a\\\nb", []string{"prog", "ab"}},
		{`"/opt/my dest/run" --flag`, []string{"/opt/my dest/run", "--flag"}},
		{`sh -c 'my_dest | tee -a log'`, []string{"sh", "-c", "my_dest | tee -a log"}},
		{`prog "a|b;c&d>e<f(g)h$i"`, []string{"prog", "a|b;c&d>e<f(g)h$i"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := exec.ParseCommand(tt.in)
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("ParseCommand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseCommandErrors(t *testing.T) {
	for _, in := range []string{
		"", "exec:", "   ", `prog 'open`, `prog "open`, `prog "a\"`, `prog a\`,
		"prog | tee", "prog > out", "prog; rm", "prog &", "prog $HOME", "prog `id`", "prog (x)",
	} {
		t.Run(in, func(t *testing.T) {
			if got, err := exec.ParseCommand(in); !errors.Is(err, exec.ErrInvalidConfig) {
				t.Errorf("ParseCommand(%q) = %q, %v; want ErrInvalidConfig", in, got, err)
			}
		})
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{`exec:python3 "my dest.py" --x='1 2'`, `a\ b`, `'`, `"\"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		argv, err := exec.ParseCommand(s)
		if err == nil && len(argv) == 0 {
			t.Errorf("ParseCommand(%q) returned no words and no error", s)
		}
	})
}

func ExampleParseCommand() {
	argv, err := exec.ParseCommand(`exec:python3 "my dest.py" --table-prefix='raw '`)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%q\n", argv)
	// Output: ["python3" "my dest.py" "--table-prefix=raw "]
}
