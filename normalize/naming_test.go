package normalize

import "testing"

func TestIdentifier(t *testing.T) {
	tests := []struct {
		name string
		conv Convention
		in   string
		want string
	}{
		// dlt's tests/common/normalizers/test_naming_snake_case.py
		{"snake/plain", SnakeCase, "event_value", "event_value"},
		{"snake/space", SnakeCase, "event value", "event_value"},
		{"snake/specials", SnakeCase, "event-.!:*<>value", "event_x_value"},
		{"snake/leading digit", SnakeCase, "1event_n'", "_1event_nx"},
		{"snake/leading digits", SnakeCase, "123event_n'", "_123event_nx"},
		{"snake/digits and camel", SnakeCase, "123BaNaNa", "_123_ba_na_na"},
		{"snake/all caps", SnakeCase, "BANANA", "banana"},
		{"snake/caps underscore", SnakeCase, "BAN_ANA", "ban_ana"},
		{"snake/mixed caps", SnakeCase, "BANaNA", "ba_na_na"},
		{"snake/words", SnakeCase, "Small Love Potion", "small_love_potion"},
		{"snake/surrounding space", SnakeCase, " Small Love Potion ", "small_love_potion"},
		{"snake/trailing underscore", SnakeCase, "BANANA_", "bananax"},
		{"snake/trailing underscores", SnakeCase, "BANANA____", "bananaxxxx"},
		{"snake/reduced alphabet", SnakeCase, "+-!$*@#=|:", "x_xa_lx"},
		{"snake/reduce alphabet table", SnakeCase, "+-*@|", "x_xal"},
		{"snake/plus digit", SnakeCase, "+1", "x1"},
		{"snake/minus digit", SnakeCase, "-1", "_1"},
		{"snake/underscore runs", SnakeCase, "event__value_value2____", "event_value_value2xxxx"},
		// the brief's examples
		{"snake/camelCase", SnakeCase, "camelCase", "camel_case"},
		{"snake/PErson", SnakeCase, "PErson", "p_erson"},
		{"snake/acronym", SnakeCase, "HTTPRequest", "http_request"},
		{"snake/digit before capital", SnakeCase, "order2Items", "order2_items"},
		{"snake/dots", SnakeCase, "a.b", "a_b"},
		{"snake/path", SnakeCase, "../x", "_x"},
		{"snake/unicode letters", SnakeCase, "größe", "gr_e"},
		{"snake/unicode digits kept", SnakeCase, "a٣", "a٣"},
		{"snake/leading unicode digit", SnakeCase, "٣a", "_٣a"},
		{"snake/only underscore", SnakeCase, "_", "x"},
		{"snake/dlt prefix", SnakeCase, "_dlt_id", "_dlt_id"},
		{"snake/invalid utf8", SnakeCase, "a\xffb", "a_b"},
		{"snake/blank", SnakeCase, "   ", "_empty"},
		{"snake/empty", SnakeCase, "", "_empty"},
		{"snake/idempotent", SnakeCase, "camel_case", "camel_case"},

		{"direct/keeps", Direct, "camelCase", "camelCase"},
		{"direct/keeps symbols", Direct, "a.b *>../x", "a.b *>../x"},
		{"direct/keeps unicode", Direct, "größe", "größe"},
		{"direct/quotes", Direct, `a"b'c` + "`d", "a_b_c_d"},
		{"direct/control", Direct, "a\nb\tc\x00d\x7f", "a_b_c_d_"},
		{"direct/c1 control", Direct, "a\u0085b", "a_b"},
		{"direct/invalid utf8", Direct, "a\xffb", "a_b"},
		{"direct/blank", Direct, " ", "_empty"},
		{"direct/surrounding space kept", Direct, " a ", " a "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.conv.Identifier(tt.in); got != tt.want {
				t.Errorf("%v.Identifier(%q) = %q, want %q", tt.conv, tt.in, got, tt.want)
			}
		})
	}
}

func TestSnakeCaseIdempotent(t *testing.T) {
	for _, in := range []string{"camelCase", "PErson", "123BaNaNa", "+-!$*@#=|:", "a__b", "x_", "größe", "٣a"} {
		t.Run(in, func(t *testing.T) {
			once := SnakeCase.Identifier(in)
			if twice := SnakeCase.Identifier(once); twice != once {
				t.Errorf("Identifier(%q) = %q, again %q", in, once, twice)
			}
		})
	}
}

func TestConventionString(t *testing.T) {
	tests := []struct {
		c    Convention
		want string
	}{
		{Direct, "direct"},
		{SnakeCase, "snake_case"},
		{Convention(7), "Convention(7)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.c.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}
