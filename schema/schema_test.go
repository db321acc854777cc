package schema

import (
	"errors"
	"testing"
	"time"
)

func TestDecimalIsExactAndCanonical(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"12.50", "12.5"},
		{"-0.000", "0"},
		{"1e-3", "0.001"},
		{"123456789012345678901234567890.000000001", "123456789012345678901234567890.000000001"},
		{"007", "7"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			d, err := ParseDecimal(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.String() != tc.want {
				t.Fatalf("%s -> %s, want %s", tc.in, d, tc.want)
			}
			if d != MustDecimal(tc.want) {
				t.Fatalf("%q and %q are not ==", tc.in, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "abc", "1/3", "NaN"} {
		if _, err := ParseDecimal(bad); !errors.Is(err, ErrDecimal) {
			t.Errorf("ParseDecimal(%q) = %v, want ErrDecimal", bad, err)
		}
	}
}

func TestDateAndTimeOfDayRoundTrip(t *testing.T) {
	d := Date{Year: 2024, Month: time.February, Day: 29}
	if got, err := ParseDate(d.String()); err != nil || got != d {
		t.Fatalf("date %v -> %v %v", d, got, err)
	}
	if DateFromDays(d.Days()) != d {
		t.Fatalf("days round trip of %v", d)
	}
	tod := TimeOfDay{Hour: 23, Minute: 59, Second: 58, Nanosecond: 1000}
	if got, err := ParseTimeOfDay(tod.String()); err != nil || got != tod {
		t.Fatalf("time %v -> %v %v", tod, got, err)
	}
	if TimeOfDayFromNanos(tod.Nanos()) != tod {
		t.Fatalf("nanos round trip of %v", tod)
	}
}

func TestTableColumns(t *testing.T) {
	tb := NewTable("t", "")
	for _, c := range []Column{{Name: "a", DataType: TypeText}, {Name: "b", DataType: TypeBigInt, System: true}} {
		if err := tb.AddColumn(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := tb.AddColumn(Column{Name: "a", DataType: TypeText}); err == nil {
		t.Fatal("added a column twice")
	}
	if err := tb.AddColumn(Column{Name: "c", DataType: "money"}); err == nil {
		t.Fatal("added a column of an unknown type")
	}
	c := tb.Clone()
	_ = tb.AddColumn(Column{Name: "d", DataType: TypeBool})
	if _, ok := c.Column("d"); ok || c.ColumnIndex("b") != 1 {
		t.Fatal("clone shares columns with the original")
	}
	if w := tb.WithoutSystem(); len(w.Columns) != 2 || w.ColumnIndex("b") >= 0 {
		t.Fatalf("without system: %+v", w.Columns)
	}
}
