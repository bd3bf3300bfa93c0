package config

import (
	"fmt"
	"math/big"
	"strings"
)

// rateUnits are the units ParseRate knows, in bytes per second. Bit units
// are decimal, as tc(8) and network gear count them; byte units are
// decimal (kB, MB) or binary (KiB, MiB).
var rateUnits = []struct {
	name  string
	num   int64 // bytes per second is num/den per unit
	den   int64
	upper bool // name must match in case (byte units)
}{
	{"bit", 1, 8, false},
	{"kbit", 1e3, 8, false},
	{"mbit", 1e6, 8, false},
	{"gbit", 1e9, 8, false},
	{"tbit", 1e12, 8, false},
	{"B", 1, 1, true},
	{"kB", 1e3, 1, true},
	{"KB", 1e3, 1, true},
	{"MB", 1e6, 1, true},
	{"GB", 1e9, 1, true},
	{"TB", 1e12, 1, true},
	{"KiB", 1 << 10, 1, true},
	{"MiB", 1 << 20, 1, true},
	{"GiB", 1 << 30, 1, true},
	{"TiB", 1 << 40, 1, true},
}

// ParseRate parses a bandwidth into bytes per second. It takes a number,
// which may have a fraction, then an optional unit and an optional "/s":
//
//	"125000"    bytes per second (no unit)
//	"100Mbit"   bits: bit, kbit, Mbit, Gbit, Tbit (any case; k = 1000)
//	"10MB/s"    bytes: B, kB or KB, MB, GB, TB (k = 1000),
//	            KiB, MiB, GiB, TiB (Ki = 1024)
//
// "0" means no cap. The result is rounded down to whole bytes per second;
// a rate above zero that rounds to zero is an error, as is one above
// 2^64-1 bytes per second.
func ParseRate(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSuffix(t, "/s")
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	if !validDecimal(num) {
		return 0, fmt.Errorf("%q is not a rate; write bytes per second, or a number and a unit as in \"100Mbit\" or \"10MB\"", s)
	}
	numer, denom := int64(1), int64(1)
	if unit != "" {
		found := false
		for _, u := range rateUnits {
			if unit == u.name || !u.upper && strings.EqualFold(unit, u.name) {
				numer, denom, found = u.num, u.den, true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("%q has an unknown unit %q; use bit, kbit, Mbit, Gbit, Tbit, B, kB, MB, GB, TB, KiB, MiB, GiB or TiB", s, unit)
		}
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("%q is not a rate", s)
	}
	r.Mul(r, big.NewRat(numer, denom))
	// Round down to whole bytes.
	q := new(big.Int).Quo(r.Num(), r.Denom())
	if !q.IsUint64() {
		return 0, fmt.Errorf("%q is more than 2^64-1 bytes per second", s)
	}
	if q.Sign() == 0 && r.Sign() > 0 {
		return 0, fmt.Errorf("%q is less than 1 byte per second", s)
	}
	return q.Uint64(), nil
}

// validDecimal accepts digits with at most one '.', which has digits on
// both sides, and at most 40 bytes, so that big.Rat has little to do.
func validDecimal(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || hasDot && (frac == "" || strings.Contains(frac, ".")) {
		return false
	}
	return true
}
