package stream

import (
	"encoding/json"
	"math/big"
	"math/bits"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The fast path (docs/streams.md, "The validator, chosen by measurement").
//
// Most schemas use a handful of keywords, and most documents are valid.
// For a schema whose every keyword, $refs followed, is in the subset below,
// compileFast builds a checker that only answers "valid": no error tree, no
// generic walk, no formatting. A document it does not pass, for whatever
// reason, goes to the library as before (compiled.Validate), which builds
// the violations: an invalid document gets exactly the answer it got
// without the fast path, and a valid one gets none, as it did.
//
// So the one property to hold is: the checker passes a document only when
// the library finds it valid. It is read off the library's compiled schema
// (a *jsonschema.Schema's fields, not the schema's JSON), so it judges by
// the very values the library judges by: the same big.Rat bounds, the same
// compiled patterns, the same format functions. FuzzFastMatchesLibrary and
// the tables of fast_test.go hold it to the library, verdict and violations.
//
// The subset: a boolean schema; type; enum and const; format (date-time by
// hand, the others by the library's own function); $ref to the same
// document's $defs (siblings applied too, as 2020-12 says); properties,
// required, additionalProperties (false or a schema), minProperties and
// maxProperties; prefixItems, items, minItems and maxItems; minLength and
// maxLength (code points), pattern; minimum, maximum, exclusiveMinimum,
// exclusiveMaximum and multipleOf, exact on the number as sent; the
// annotations (title, description, default, examples, $comment, $schema,
// and $id at the root). Anything else keeps the whole schema on the
// library: allOf, anyOf, oneOf, not, if/then/else, unevaluated*,
// dependent*, patternProperties, propertyNames, contains, uniqueItems,
// content*, $anchor, $dynamicRef, a $ref to another document or outside
// $defs, a loop of $refs.

// verdict is the checker's answer for one value.
type verdict int8

const (
	pass   verdict = iota // the library finds it valid
	fail                  // the library finds it invalid
	unsure                // not decided here: ask the library
)

// fastSchema is a schema's checker; nil where the schema is not in the
// subset.
type fastSchema struct{ root *fnode }

// check judges a decoded document (DecodeDocument's kinds of value).
func (f *fastSchema) check(doc any) verdict { return f.root.check(doc) }

// Types, as bits.
const (
	tNull uint8 = 1 << iota
	tBoolean
	tNumber
	tInteger
	tString
	tArray
	tObject
)

// fnode is one schema of the subset.
type fnode struct {
	never bool  // the schema false
	types uint8 // 0: any

	hasConst bool
	konst    fvalue
	hasEnum  bool
	enum     []fvalue

	dateTime bool              // format: date-time, checked here
	format   func(any) error   // any other format: the library's own
	ref      *fnode            // $ref, applied beside the siblings
	pattern  jsonschema.Regexp // the library's compiled pattern
	minLen   int               // -1: none
	maxLen   int               // -1: none
	bounds   []bound           // minimum and the like
	multiple *multipleOf       // nil: none
	minItems int               // -1: none
	maxItems int               // -1: none
	prefix   []*fnode          // prefixItems
	items    *fnode            // items (2020-12): the rest
	minProps int               // -1: none
	maxProps int               // -1: none
	props    []fprop           // properties, by name
	propSet  map[string]bool   // the names of props, for additionalProperties
	required []string          // required names that props does not hold
	addl     int8              // addlNone, addlFalse or addlSchema
	addlNode *fnode            // additionalProperties' schema
}

const (
	addlNone int8 = iota
	addlFalse
	addlSchema
)

type fprop struct {
	name     string
	node     *fnode
	required bool
}

// bound is one of minimum, maximum, exclusiveMinimum, exclusiveMaximum: a
// number passes when its comparison with at is one of the allowed results.
type bound struct {
	at decimal
	// lt, eq, gt: whether a number below, equal to and above at passes.
	lt, eq, gt bool
}

// multipleOf is m = unit × 10^exp with unit a uint64.
type multipleOf struct {
	unit uint64
	exp  int64
}

// compileFast returns s's checker, or nil when s uses anything outside the
// subset.
func compileFast(s *jsonschema.Schema) *fastSchema {
	b := fastBuilder{nodes: map[*jsonschema.Schema]*fnode{}}
	for _, loc := range []string{s.Location, s.ID} {
		if loc == "" {
			continue
		}
		if i := strings.IndexByte(loc, '#'); i >= 0 {
			loc = loc[:i]
		}
		b.defs = append(b.defs, loc+"#/$defs/")
	}
	b.root = s
	n := b.node(s)
	if n == nil || b.refLoop() {
		return nil
	}
	return &fastSchema{root: n}
}

type fastBuilder struct {
	root  *jsonschema.Schema
	defs  []string // the prefixes of the Location of a $ref into $defs
	nodes map[*jsonschema.Schema]*fnode
}

// node makes s's fnode, nil when s is outside the subset.
func (b *fastBuilder) node(s *jsonschema.Schema) *fnode {
	if n, ok := b.nodes[s]; ok {
		return n
	}
	if !b.supported(s) {
		return nil
	}
	n := &fnode{minLen: -1, maxLen: -1, minItems: -1, maxItems: -1, minProps: -1, maxProps: -1}
	b.nodes[s] = n // before the parts: a schema may hold itself, by $ref
	if s.Bool != nil {
		n.never = !*s.Bool
		return n
	}
	ok := true
	sub := func(s *jsonschema.Schema) *fnode {
		x := b.node(s)
		if x == nil {
			ok = false
		}
		return x
	}
	if s.Types != nil {
		for _, t := range s.Types.ToStrings() {
			switch t {
			case "null":
				n.types |= tNull
			case "boolean":
				n.types |= tBoolean
			case "number":
				n.types |= tNumber
			case "integer":
				n.types |= tInteger
			case "string":
				n.types |= tString
			case "array":
				n.types |= tArray
			case "object":
				n.types |= tObject
			default:
				return nil
			}
		}
	}
	if s.Const != nil {
		v, good := makeValue(*s.Const)
		if !good {
			return nil
		}
		n.hasConst, n.konst = true, v
	}
	if s.Enum != nil {
		n.hasEnum = true
		for _, e := range s.Enum.Values {
			v, good := makeValue(e)
			if !good {
				return nil
			}
			n.enum = append(n.enum, v)
		}
	}
	if s.Format != nil {
		if s.Format.Validate == nil {
			return nil
		}
		if s.Format.Name == "date-time" {
			n.dateTime = true
		} else {
			n.format = s.Format.Validate
		}
	}
	if s.Ref != nil {
		if !b.local(s.Ref) {
			return nil
		}
		n.ref = sub(s.Ref)
	}
	// string
	if s.MinLength != nil {
		n.minLen = *s.MinLength
	}
	if s.MaxLength != nil {
		n.maxLen = *s.MaxLength
	}
	n.pattern = s.Pattern
	// number
	for _, bd := range []struct {
		r          *big.Rat
		lt, eq, gt bool
	}{
		{s.Minimum, false, true, true},
		{s.Maximum, true, true, false},
		{s.ExclusiveMinimum, false, false, true},
		{s.ExclusiveMaximum, true, false, false},
	} {
		if bd.r == nil {
			continue
		}
		d, good := ratDecimal(bd.r)
		if !good {
			return nil
		}
		n.bounds = append(n.bounds, bound{at: d, lt: bd.lt, eq: bd.eq, gt: bd.gt})
	}
	if s.MultipleOf != nil {
		m, good := makeMultipleOf(s.MultipleOf)
		if !good {
			return nil
		}
		n.multiple = m
	}
	// array
	if s.MinItems != nil {
		n.minItems = *s.MinItems
	}
	if s.MaxItems != nil {
		n.maxItems = *s.MaxItems
	}
	for _, p := range s.PrefixItems {
		n.prefix = append(n.prefix, sub(p))
	}
	if s.Items2020 != nil {
		n.items = sub(s.Items2020)
	}
	// object
	if s.MinProperties != nil {
		n.minProps = *s.MinProperties
	}
	if s.MaxProperties != nil {
		n.maxProps = *s.MaxProperties
	}
	names := make([]string, 0, len(s.Properties))
	for name := range s.Properties {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		n.props = append(n.props, fprop{name: name, node: sub(s.Properties[name]), required: slices.Contains(s.Required, name)})
	}
	for _, r := range s.Required {
		if _, inProps := s.Properties[r]; !inProps && !slices.Contains(n.required, r) {
			n.required = append(n.required, r)
		}
	}
	switch a := s.AdditionalProperties.(type) {
	case nil:
	case bool:
		if !a {
			n.addl = addlFalse
		}
	case *jsonschema.Schema:
		n.addl = addlSchema
		n.addlNode = sub(a)
		n.propSet = map[string]bool{}
		for _, name := range names {
			n.propSet[name] = true
		}
	default:
		return nil
	}
	if !ok {
		return nil
	}
	return n
}

// supported reports whether s has no keyword outside the subset (its
// subschemas are checked as they are made).
func (b *fastBuilder) supported(s *jsonschema.Schema) bool {
	switch {
	case s.DraftVersion != 2020,
		s.ID != "" && s != b.root,
		s.Anchor != "",
		s.RecursiveRef != nil, s.RecursiveAnchor,
		s.DynamicRef != nil, s.DynamicAnchor != "",
		s.Not != nil, len(s.AllOf) > 0, len(s.AnyOf) > 0, len(s.OneOf) > 0,
		s.If != nil, s.Then != nil, s.Else != nil,
		s.PropertyNames != nil, len(s.PatternProperties) > 0,
		len(s.Dependencies) > 0, len(s.DependentRequired) > 0, len(s.DependentSchemas) > 0,
		s.UnevaluatedProperties != nil,
		s.UniqueItems, s.Contains != nil, s.MinContains != nil, s.MaxContains != nil,
		s.Items != nil, s.AdditionalItems != nil, s.UnevaluatedItems != nil,
		s.ContentEncoding != nil, s.ContentMediaType != nil, s.ContentSchema != nil,
		len(s.Extensions) > 0:
		return false
	}
	return true
}

// local reports whether ref is a schema of the same document's $defs.
func (b *fastBuilder) local(ref *jsonschema.Schema) bool {
	for _, p := range b.defs {
		if strings.HasPrefix(ref.Location, p) {
			return true
		}
	}
	return false
}

// refLoop reports whether following $refs alone from some schema comes
// back to it: the library answers that with an error (a $ref cycle) when
// a document reaches it, and the checker would never return.
func (b *fastBuilder) refLoop() bool {
	for _, n := range b.nodes {
		steps := 0
		for r := n.ref; r != nil; r = r.ref {
			if r == n || steps > len(b.nodes) {
				return true
			}
			steps++
		}
	}
	return false
}

func (n *fnode) check(v any) verdict {
	if n.never {
		return fail
	}
	var t uint8
	switch v.(type) {
	case nil:
		t = tNull
	case bool:
		t = tBoolean
	case json.Number:
		t = tNumber
	case string:
		t = tString
	case []any:
		t = tArray
	case map[string]any:
		t = tObject
	default:
		return unsure // not a value DecodeDocument makes
	}
	if n.types != 0 && n.types&t == 0 {
		if t != tNumber || n.types&tInteger == 0 {
			return fail
		}
		d, ok := parseDecimal(string(v.(json.Number)))
		if !ok {
			return unsure
		}
		if !d.integer() {
			return fail
		}
	}
	if n.hasConst {
		if r := n.konst.equal(v); r != pass {
			return r
		}
	}
	if n.hasEnum {
		r := fail
		for i := range n.enum {
			if r = n.enum[i].equal(v); r != fail {
				break
			}
		}
		if r != pass {
			return r
		}
	}
	if n.dateTime {
		if s, ok := v.(string); ok && !dateTime(s) {
			return fail
		}
	} else if n.format != nil && n.format(v) != nil {
		return fail
	}
	if n.ref != nil {
		if r := n.ref.check(v); r != pass {
			return r
		}
	}
	switch x := v.(type) {
	case string:
		return n.checkString(x)
	case json.Number:
		return n.checkNumber(x)
	case []any:
		return n.checkArray(x)
	case map[string]any:
		return n.checkObject(x)
	}
	return pass
}

func (n *fnode) checkString(s string) verdict {
	if n.minLen >= 0 || n.maxLen >= 0 {
		// Code points, as the library counts (utf8.RuneCount): at most
		// one per byte, at least one per four.
		if n.minLen >= 0 && len(s) < n.minLen {
			return fail
		}
		if (n.maxLen >= 0 && len(s) > n.maxLen) || (n.minLen >= 0 && (len(s)+3)/4 < n.minLen) {
			c := utf8.RuneCountInString(s)
			if (n.minLen >= 0 && c < n.minLen) || (n.maxLen >= 0 && c > n.maxLen) {
				return fail
			}
		}
	}
	if n.pattern != nil && !n.pattern.MatchString(s) {
		return fail
	}
	return pass
}

func (n *fnode) checkNumber(x json.Number) verdict {
	if len(n.bounds) == 0 && n.multiple == nil {
		return pass
	}
	d, ok := parseDecimal(string(x))
	if !ok {
		return unsure
	}
	for i := range n.bounds {
		b := &n.bounds[i]
		switch c := d.cmp(&b.at); {
		case c < 0 && !b.lt, c == 0 && !b.eq, c > 0 && !b.gt:
			return fail
		}
	}
	if n.multiple != nil && !n.multiple.divides(&d) {
		return fail
	}
	return pass
}

func (n *fnode) checkArray(a []any) verdict {
	if (n.minItems >= 0 && len(a) < n.minItems) || (n.maxItems >= 0 && len(a) > n.maxItems) {
		return fail
	}
	for i, item := range a {
		sub := n.items
		if i < len(n.prefix) {
			sub = n.prefix[i]
		}
		if sub == nil {
			break
		}
		if r := sub.check(item); r != pass {
			return r
		}
	}
	return pass
}

func (n *fnode) checkObject(m map[string]any) verdict {
	if (n.minProps >= 0 && len(m) < n.minProps) || (n.maxProps >= 0 && len(m) > n.maxProps) {
		return fail
	}
	found := 0
	for i := range n.props {
		p := &n.props[i]
		v, ok := m[p.name]
		if !ok {
			if p.required {
				return fail
			}
			continue
		}
		found++
		if r := p.node.check(v); r != pass {
			return r
		}
	}
	for _, name := range n.required {
		if _, ok := m[name]; !ok {
			return fail
		}
	}
	if found == len(m) {
		return pass
	}
	switch n.addl {
	case addlFalse:
		return fail
	case addlSchema:
		for name, v := range m {
			if n.propSet[name] {
				continue
			}
			if r := n.addlNode.check(v); r != pass {
				return r
			}
		}
	}
	return pass
}

// decimal is a number as written, exactly: zero, or
// ±0.d₁d₂…dₙ × 10^point with d₁ and dₙ not 0. The digits are digits[0]
// followed by digits[1] (a literal's integer and fraction parts, trimmed),
// so parsing one copies nothing.
type decimal struct {
	neg    bool
	zero   bool
	digits [2]string
	point  int64
}

func (d *decimal) n() int { return len(d.digits[0]) + len(d.digits[1]) }

func (d *decimal) digit(i int) byte {
	if i < len(d.digits[0]) {
		return d.digits[0][i]
	}
	if i -= len(d.digits[0]); i < len(d.digits[1]) {
		return d.digits[1][i]
	}
	return '0'
}

func (d *decimal) integer() bool { return d.zero || d.point >= int64(d.n()) }

// cmp compares d and e by value.
func (d *decimal) cmp(e *decimal) int {
	sd, se := d.sign(), e.sign()
	switch {
	case sd != se:
		if sd < se {
			return -1
		}
		return 1
	case sd == 0:
		return 0
	}
	c := 0
	switch {
	case d.point != e.point:
		c = 1
		if d.point < e.point {
			c = -1
		}
	default:
		for i := 0; i < max(d.n(), e.n()); i++ {
			if x, y := d.digit(i), e.digit(i); x != y {
				c = 1
				if x < y {
					c = -1
				}
				break
			}
		}
	}
	return c * sd
}

func (d *decimal) sign() int {
	switch {
	case d.zero:
		return 0
	case d.neg:
		return -1
	}
	return 1
}

// maxExp5 is big.Rat.SetString's bound on a decimal exponent (the
// exponent less the fraction's digits): beyond it SetString fails, and the
// library's answer is not a comparison (see parseDecimal).
const maxExp5 = 1_000_000

// parseDecimal reads a JSON number literal. It fails (the caller says
// unsure) for anything else, and for a literal big.Rat.SetString would not
// read: the library takes numbers through it, and where it fails the
// library's answer is no comparison at all (its integer check says no, a
// bound dereferences a nil *big.Rat), so that is left to it.
func parseDecimal(s string) (d decimal, ok bool) {
	i := 0
	if i < len(s) && s[i] == '-' {
		d.neg = true
		i++
	}
	start := i
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return d, false
	}
	intPart := s[start:i]
	frac := ""
	if i < len(s) && s[i] == '.' {
		i++
		start = i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return d, false
		}
		frac = s[start:i]
	}
	var exp int64
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		start = i
		for i < len(s) && s[i] == '0' {
			i++
		}
		sig := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start || i-sig > 9 {
			return d, false // no digits, or an exponent past 10^9
		}
		for _, c := range s[sig:i] {
			exp = exp*10 + int64(c-'0')
		}
		if eneg {
			exp = -exp
		}
	}
	if i != len(s) {
		return d, false
	}
	// The significant digits: from the first nonzero one to the last.
	lo := strings.IndexFunc(intPart, nonZero)
	var head, tail string
	if lo >= 0 {
		head, tail = intPart[lo:], frac
	} else if lo = strings.IndexFunc(frac, nonZero); lo >= 0 {
		tail = frac[lo:]
		lo += len(intPart)
	} else {
		d.zero = true
		return d, true
	}
	if exp5 := exp - int64(len(frac)); exp5 > maxExp5 || exp5 < -maxExp5 {
		return d, false
	}
	if hi := strings.LastIndexFunc(tail, nonZero); hi >= 0 {
		tail = tail[:hi+1]
	} else {
		tail = ""
		head = head[:strings.LastIndexFunc(head, nonZero)+1]
	}
	d.digits = [2]string{head, tail}
	d.point = int64(len(intPart)-lo) + exp
	return d, true
}

func nonZero(r rune) bool { return r != '0' }

// ratDecimal writes a schema's number (a big.Rat made from a decimal) as a
// decimal; false for a fraction no decimal is (which JSON cannot write).
func ratDecimal(r *big.Rat) (decimal, bool) {
	if r.Sign() == 0 {
		return decimal{zero: true}, true
	}
	// r = num/den with den = 2^a 5^b: num × 10^k / den is an integer
	// for k = max(a, b).
	den := new(big.Int).Set(r.Denom())
	var k int64
	two, five := big.NewInt(2), big.NewInt(5)
	var a, b int64
	q, m := new(big.Int), new(big.Int)
	for {
		if q.DivMod(den, two, m); m.Sign() != 0 {
			break
		}
		den.Set(q)
		a++
	}
	for {
		if q.DivMod(den, five, m); m.Sign() != 0 {
			break
		}
		den.Set(q)
		b++
	}
	if den.Cmp(big.NewInt(1)) != 0 {
		return decimal{}, false
	}
	k = max(a, b)
	num := new(big.Int).Abs(r.Num())
	num.Mul(num, new(big.Int).Exp(big.NewInt(10), big.NewInt(k), nil))
	num.Quo(num, r.Denom())
	digits := num.String()
	t := len(digits) - len(strings.TrimRight(digits, "0"))
	digits = digits[:len(digits)-t]
	// value = digits × 10^(t-k) = 0.digits × 10^(len(digits)+t-k)
	return decimal{neg: r.Sign() < 0, digits: [2]string{digits, ""}, point: int64(len(digits)) + int64(t) - k}, true
}

func makeMultipleOf(r *big.Rat) (*multipleOf, bool) {
	d, ok := ratDecimal(r)
	if !ok || d.zero || d.neg {
		return nil, false
	}
	var unit uint64
	for i := 0; i < d.n(); i++ {
		hi, lo := bits.Mul64(unit, 10)
		lo, carry := bits.Add64(lo, uint64(d.digit(i)-'0'), 0)
		if hi != 0 || carry != 0 {
			return nil, false // a unit past 2^64: left to the library
		}
		unit = lo
	}
	return &multipleOf{unit: unit, exp: d.point - int64(d.n())}, true
}

// divides reports whether x / m is an integer. With x = D × 10^s (D its
// digits, not ending in 0) and m = unit × 10^exp: when s < exp, x/m =
// D / (unit × 10^(exp-s)) and 10 does not divide D, so no; else it is
// whether unit divides D × 10^(s-exp), worked out mod unit.
func (m *multipleOf) divides(x *decimal) bool {
	if x.zero {
		return true
	}
	s := x.point - int64(x.n())
	if s < m.exp {
		return false
	}
	if m.unit == 1 {
		return true
	}
	var r uint64
	for i := 0; i < x.n(); i++ {
		hi, lo := bits.Mul64(r, 10)
		lo, carry := bits.Add64(lo, uint64(x.digit(i)-'0'), 0)
		_, r = bits.Div64(hi+carry, lo, m.unit)
	}
	if r == 0 {
		return true
	}
	// × 10^(s-exp) mod unit, by squaring.
	p, base := uint64(1), 10%m.unit
	for e := s - m.exp; e > 0; e >>= 1 {
		if e&1 == 1 {
			p = mulMod(p, base, m.unit)
		}
		base = mulMod(base, base, m.unit)
	}
	return mulMod(r, p, m.unit) == 0
}

func mulMod(a, b, m uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	_, r := bits.Div64(hi, lo, m)
	return r
}

// fvalue is an enum or const value, its numbers read once.
type fvalue struct {
	v     any      // nil, bool, string; a number's literal; unused for arrays and objects
	num   *decimal // a number's value; nil when big.Rat cannot read it
	isNum bool
	arr   []fvalue
	obj   map[string]fvalue
	kind  uint8 // the t* bit
}

func makeValue(v any) (fvalue, bool) {
	switch x := v.(type) {
	case nil:
		return fvalue{kind: tNull}, true
	case bool:
		return fvalue{v: x, kind: tBoolean}, true
	case string:
		return fvalue{v: x, kind: tString}, true
	case json.Number:
		f := fvalue{v: x, isNum: true, kind: tNumber}
		if d, ok := parseDecimal(string(x)); ok {
			f.num = &d
		} else if _, ok := new(big.Rat).SetString(string(x)); ok {
			return f, false // read by the library, not here: leave it to it
		}
		return f, true
	case []any:
		f := fvalue{kind: tArray, arr: make([]fvalue, len(x))}
		for i, e := range x {
			var ok bool
			if f.arr[i], ok = makeValue(e); !ok {
				return f, false
			}
		}
		return f, true
	case map[string]any:
		f := fvalue{kind: tObject, obj: make(map[string]fvalue, len(x))}
		for k, e := range x {
			ev, ok := makeValue(e)
			if !ok {
				return f, false
			}
			f.obj[k] = ev
		}
		return f, true
	}
	return fvalue{}, false // a float64 or the like: not from JSON
}

// equal is the library's JSON equality: numbers by value (1 == 1.0),
// arrays in order, objects by members.
func (f *fvalue) equal(v any) verdict {
	switch x := v.(type) {
	case nil:
		return is(f.kind == tNull)
	case bool:
		return is(f.kind == tBoolean && f.v.(bool) == x)
	case string:
		return is(f.kind == tString && f.v.(string) == x)
	case json.Number:
		if !f.isNum {
			return fail
		}
		d, ok := parseDecimal(string(x))
		if !ok {
			return unsure
		}
		if f.num == nil {
			return fail // the library reads neither as a number: never equal
		}
		return is(d.cmp(f.num) == 0)
	case []any:
		if f.kind != tArray || len(f.arr) != len(x) {
			return fail
		}
		for i := range x {
			if r := f.arr[i].equal(x[i]); r != pass {
				return r
			}
		}
		return pass
	case map[string]any:
		if f.kind != tObject || len(f.obj) != len(x) {
			return fail
		}
		for k, e := range x {
			w, ok := f.obj[k]
			if !ok {
				return fail
			}
			if r := w.equal(e); r != pass {
				return r
			}
		}
		return pass
	}
	return unsure
}

func is(b bool) verdict {
	if b {
		return pass
	}
	return fail
}

// dateTime is the library's date-time format (RFC 3339 section 5.6, as
// its validateDateTime reads it, quirks included: a two-character field is
// what strconv.Atoi reads, so "+1" and "-0" pass as hours, minutes and
// seconds; a leap second must fall at 23:59 UTC). Differential tests hold
// it to the library's function.
func dateTime(s string) bool {
	if len(s) < 20 || (s[10] != 't' && s[10] != 'T') {
		return false
	}
	return date(s[:10]) && timeOfDay(s[11:])
}

// date is time.Parse("2006-01-02", s) == nil for a 10-byte s.
func date(s string) bool {
	for _, i := range [...]int{0, 1, 2, 3, 5, 6, 8, 9} {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	if s[4] != '-' || s[7] != '-' {
		return false
	}
	num := func(t string) int {
		n := 0
		for i := 0; i < len(t); i++ {
			n = n*10 + int(t[i]-'0')
		}
		return n
	}
	y, m, d := num(s[:4]), num(s[5:7]), num(s[8:])
	if m < 1 || m > 12 || d < 1 {
		return false
	}
	days := [...]int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[m-1]
	if m == 2 && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		days = 29
	}
	return d <= days
}

// timeOfDay is the library's validateTime.
func timeOfDay(s string) bool {
	if len(s) < 9 || s[2] != ':' || s[5] != ':' {
		return false
	}
	h, ok1 := atoi2(s[0:2])
	m, ok2 := atoi2(s[3:5])
	sec, ok3 := atoi2(s[6:8])
	if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || sec > 60 {
		return false
	}
	s = s[8:]
	if rest, ok := strings.CutPrefix(s, "."); ok {
		n := 0
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 0 {
			return false
		}
		s = rest[n:]
	}
	if s != "z" && s != "Z" {
		if len(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' {
			return false
		}
		sign := 1
		if s[0] == '+' {
			sign = -1
		}
		zh, ok1 := atoi2(s[1:3])
		zm, ok2 := atoi2(s[4:6])
		if !ok1 || !ok2 || zh > 23 || zm > 59 {
			return false
		}
		hm := h*60 + m + sign*(zh*60+zm)
		if hm < 0 {
			hm += 24 * 60
		}
		h, m = hm/60, hm%60
	}
	return sec < 60 || (h == 23 && m == 59)
}

// atoi2 is strconv.Atoi of a two-byte field, refused when negative: two
// digits, or a sign and one digit ("-0" is 0).
func atoi2(s string) (int, bool) {
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	switch {
	case isDigit(s[0]) && isDigit(s[1]):
		return int(s[0]-'0')*10 + int(s[1]-'0'), true
	case s[0] == '+' && isDigit(s[1]):
		return int(s[1] - '0'), true
	case s == "-0":
		return 0, true
	}
	return 0, false
}
