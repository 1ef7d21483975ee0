package doc

import (
	"math"
	"strconv"
)

// A number is kept as the client wrote it, and the store turns it into a
// BSON int64 (written as an integer) or a double (anything else). A number
// that either would change is refused rather than rounded: a client that
// sent 0.12345678901234567890123 and read back 0.12345678901234568 would
// never know which it had. The client can send it as a string instead.

// checkNumber returns why the JSON number lit (integer: written without a
// fraction or exponent) cannot be stored as sent; "" when it can.
func checkNumber(lit string, integer bool) string {
	if integer {
		if _, ok := parseInt64(lit); !ok {
			return msgBigInteger
		}
		return ""
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || math.IsInf(f, 0) {
		return msgInfinite // lit is a JSON number: only its range can fail
	}
	var buf [32]byte
	if !sameDecimal(lit, strconv.AppendFloat(buf[:0], f, 'g', -1, 64)) {
		if f == 0 {
			return msgInfinite // underflow: a nonzero literal read as zero
		}
		return msgRounded
	}
	return ""
}

// parseInt64 reads an integer literal of JSON (an optional '-', digits
// without a leading zero), reporting whether it fits an int64.
func parseInt64(lit string) (int64, bool) {
	neg := lit != "" && lit[0] == '-'
	digits := lit
	if neg {
		digits = lit[1:]
	}
	if digits == "" || len(digits) > 19 {
		return 0, false
	}
	var u uint64
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		u = u*10 + uint64(c-'0') // 19 digits cannot overflow a uint64
	}
	switch {
	case neg && u <= 1<<63:
		return -int64(u), true // -int64(1<<63) is math.MinInt64, as wanted
	case !neg && u <= math.MaxInt64:
		return int64(u), true
	}
	return 0, false
}

// sameDecimal reports whether the JSON number a and the number b (as
// strconv formats it: 'g' form, exponent with a sign) denote the same
// decimal value. Both are read as sign, significant digits (no leading or
// trailing zeros) and the exponent of the first digit, and compared so:
// exact, without the cost of big.Rat, and without allocating. b has at most
// 17 significant digits, so a with more cannot be equal and is not read
// further than that.
func sameDecimal(a string, b []byte) bool {
	var da, db [maxSignificant]byte
	negA, na, expA, okA := decimal(a, &da)
	negB, nb, expB, okB := decimal(string(b), &db)
	if !okA || !okB || na != nb || negA != negB {
		return false
	}
	return na == 0 || expA == expB && da == db
}

// maxSignificant is more significant digits than a float64's shortest
// form ever has (17).
const maxSignificant = 20

// decimal reads the number s as 0.D × 10^exp, D being its significant
// digits, which it writes to digits (n of them; n == 0 for zero). ok is
// false when D has more than maxSignificant digits.
func decimal(s string, digits *[maxSignificant]byte) (neg bool, n, exp int, ok bool) {
	i := 0
	if i < len(s) && s[i] == '-' {
		neg = true
		i++
	}
	pos := 0         // digits read, in the integer part and the fraction
	point := -1      // digits before the point
	first := -1      // index of the first nonzero digit
	pendingZero := 0 // zeros after the last nonzero digit, not written yet
	for ; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			point = pos
			continue
		}
		if c < '0' || c > '9' {
			break
		}
		pos++
		if c == '0' {
			if first >= 0 {
				pendingZero++
			}
			continue
		}
		if first < 0 {
			first = pos - 1
		}
		if n+pendingZero >= maxSignificant {
			return neg, 0, 0, false
		}
		for ; pendingZero > 0; pendingZero-- {
			digits[n] = '0'
			n++
		}
		digits[n] = c
		n++
	}
	if point < 0 {
		point = pos
	}
	e := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		for ; i < len(s); i++ {
			// Saturated: an exponent this large makes the value
			// infinite or zero, refused before it matters.
			if e < 1e9 {
				e = e*10 + int(s[i]-'0')
			}
		}
		if eneg {
			e = -e
		}
	}
	if n == 0 {
		return neg, 0, 0, true
	}
	return neg, n, point - first + e, true
}
