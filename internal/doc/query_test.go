package doc

import (
	"strings"
	"testing"
)

func TestParseValue(t *testing.T) {
	orders, things := streamNamed(t, "orders"), streamNamed(t, "things")
	tests := []struct {
		stream, field, in string
		want              any    // nil: refused
		why               string // in the error
	}{
		{"orders", "customer", "cust-1", "cust-1", ""},
		{"orders", "customer", "", "", ""},
		{"orders", "status", "paid", "paid", ""}, // an enum of strings
		{"orders", "status", "42", "42", ""},
		{"orders", "orderId", "o-1", nil, "not a field"},
		{"orders", "nope", "x", nil, "not a field"},
		{"things", "name", "x y", "x y", ""},
		{"things", "count", "42", int64(42), ""},
		{"things", "count", "-9223372036854775808", int64(-9223372036854775808), ""},
		{"things", "count", "9223372036854775808", nil, "64 bits"},
		{"things", "count", "4.5", nil, "must be an integer"},
		{"things", "count", "1e3", nil, "must be an integer"},
		{"things", "count", "+1", nil, "JSON's form"},
		{"things", "count", "012", nil, "JSON's form"},
		{"things", "count", "", nil, "JSON's form"},
		{"things", "count", "x", nil, "JSON's form"},
		{"things", "price", "3", int64(3), ""},
		{"things", "price", "3.25", 3.25, ""},
		{"things", "price", "1e3", 1000.0, ""},
		{"things", "price", "-0.5", -0.5, ""},
		{"things", "price", "0.12345678901234567890123", nil, "rounded"},
		{"things", "price", "1e400", nil, "range"},
		{"things", "price", "NaN", nil, "JSON's form"},
		{"things", "price", "Infinity", nil, "JSON's form"},
		{"things", "price", "0x10", nil, "JSON's form"},
		{"things", "price", " 1", nil, "JSON's form"},
		{"things", "price", "1 ", nil, "JSON's form"},
		{"things", "active", "true", true, ""},
		{"things", "active", "false", false, ""},
		{"things", "active", "True", nil, "true or false"},
		{"things", "active", "1", nil, "true or false"},
	}
	for _, tt := range tests {
		st := orders
		if tt.stream == "things" {
			st = things
		}
		got, err := ParseValue(st, tt.field, tt.in)
		switch {
		case tt.want == nil && (err == nil || !strings.Contains(err.Error(), tt.why)):
			t.Errorf("%s %s=%q: %#v, %v; want an error saying %q", tt.stream, tt.field, tt.in, got, err, tt.why)
		case tt.want != nil && (err != nil || got != tt.want):
			t.Errorf("%s %s=%q: %#v (%T), %v; want %#v (%T)", tt.stream, tt.field, tt.in, got, got, err, tt.want, tt.want)
		}
	}
}
