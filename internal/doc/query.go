package doc

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/postpipe/postpipe/internal/stream"
)

// ParseValue turns s, a listing's query parameter for the list field field
// of st, into the value Query.Value compares by: a string, an int64, a
// float64 or a bool, by the type the schema gives the field
// (stream.ListType). The store compares typed values, and MongoDB never
// finds the string "3" equal to the number 3. A number field takes an
// int64 when s is written as an integer and a float64 otherwise (MongoDB
// compares numbers across their types, so 3 finds 3.0 too); a number is
// read by the rules of a document's numbers (JSON's syntax, nothing
// rounded), so a filter asks for a value a document can hold. The error
// says what s should have been.
func ParseValue(st *stream.Stream, field, s string) (any, error) {
	t := st.ListType(field)
	switch t {
	case "":
		return nil, fmt.Errorf("%q: %w", field, errNotListed)
	case "string":
		return s, nil
	case "boolean":
		switch s {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("%s must be true or false, not %q", field, s)
	}
	sc := scanner{data: []byte(s)}
	lit, integer, err := sc.wholeNumber()
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s must be a number in JSON's form (such as 12, -3 or 4.5), not %q", field, s)
	case t == "integer" && !integer:
		return nil, fmt.Errorf("%s must be an integer, not %q", field, s)
	}
	if msg := checkNumber(lit, integer); msg != "" {
		return nil, fmt.Errorf("%s %q %s", field, s, msg)
	}
	if integer {
		n, _ := parseInt64(lit)
		return n, nil
	}
	f, _ := strconv.ParseFloat(lit, 64)
	return f, nil
}

// errNotListed is a listing's filter on a field the stream does not list.
var errNotListed = errors.New("not a field the stream's listing filters on")

// wholeNumber reads the whole of the scanner's data as one JSON number.
func (s *scanner) wholeNumber() (lit string, integer bool, err error) {
	if len(s.data) == 0 {
		return "", false, errNotListed // any error: the caller says what is wanted
	}
	b, integer, err := s.number()
	if err == nil && s.pos != len(s.data) {
		err = s.syntax("data after the number")
	}
	return string(b), integer, err
}
