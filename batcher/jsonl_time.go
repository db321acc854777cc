package batcher

import (
	"strconv"
	"strings"
	"time"
)

// Dates and times. time.Time's own RFC 3339 formatting covers years 0..9999
// only; these cover every year, and are faster.

func jsonlAppendTimestamp(dst []byte, ts time.Time) []byte {
	ts = ts.UTC()
	y, mo, d := ts.Date()
	h, mi, s := ts.Clock()
	dst = jsonlAppendDate(dst, y, int(mo), d)
	dst = append(dst, 'T')
	dst = jsonlAppendClock(dst, h, mi, s, ts.Nanosecond())
	return append(dst, 'Z')
}

// jsonlAppendDate appends "2006-01-02"; years beyond four digits as Go's
// time.Format writes them ("-0001", "10000").
func jsonlAppendDate(dst []byte, y, m, d int) []byte {
	if y < 0 {
		dst = append(dst, '-')
		y = -y
	}
	if y < 10000 {
		dst = append(dst, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10))
	} else {
		dst = strconv.AppendInt(dst, int64(y), 10)
	}
	return append(dst, '-', byte('0'+m/10), byte('0'+m%10), '-', byte('0'+d/10), byte('0'+d%10))
}

// jsonlAppendClock appends "15:04:05" and, if ns > 0, a fraction without
// trailing zeros.
func jsonlAppendClock(dst []byte, h, m, s, ns int) []byte {
	dst = append(dst, byte('0'+h/10), byte('0'+h%10), ':', byte('0'+m/10), byte('0'+m%10), ':', byte('0'+s/10), byte('0'+s%10))
	if ns == 0 {
		return dst
	}
	var frac [10]byte
	frac[0] = '.'
	for i := 9; i >= 1; i-- {
		frac[i] = byte('0' + ns%10)
		ns /= 10
	}
	n := 10
	for frac[n-1] == '0' {
		n--
	}
	return append(dst, frac[:n]...)
}

func jsonlValidDate(y, m, d int) bool {
	return m >= 1 && m <= 12 && d >= 1 && d <= jsonlDaysIn(y, m)
}

func jsonlDaysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func jsonlValidClock(h, m, s, ns int) bool {
	return h >= 0 && h < 24 && m >= 0 && m < 60 && s >= 0 && s < 60 && ns >= 0 && ns < 1e9
}

// jsonlParseTimestamp parses what jsonlAppendTimestamp writes, and any other
// RFC 3339 time, into a time in UTC.
func jsonlParseTimestamp(s string) (time.Time, bool) {
	if i := strings.IndexByte(s, 'T'); i > 0 && strings.HasSuffix(s, "Z") {
		y, mo, d, ok1 := jsonlParseDate(s[:i])
		h, mi, sec, ns, ok2 := jsonlParseClock(s[i+1 : len(s)-1])
		if ok1 && ok2 {
			return time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC), true
		}
	}
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	return ts.UTC(), true
}

// jsonlParseDate parses "2006-01-02", with years as jsonlAppendDate writes
// them, and checks it is a calendar date.
func jsonlParseDate(s string) (y, m, d int, ok bool) {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	i := strings.IndexByte(s, '-')
	if i < 4 || len(s) != i+6 || s[i+3] != '-' || (i > 4 && s[0] == '0') || i > 18 {
		return 0, 0, 0, false
	}
	y, ok1 := jsonlDigits(s[:i])
	m, ok2 := jsonlDigits(s[i+1 : i+3])
	d, ok3 := jsonlDigits(s[i+4:])
	if neg {
		y = -y
	}
	return y, m, d, ok1 && ok2 && ok3 && jsonlValidDate(y, m, d)
}

// jsonlParseClock parses "15:04:05" with an optional fraction of 1 to 9 digits.
func jsonlParseClock(s string) (h, m, sec, ns int, ok bool) {
	if len(s) < 8 || s[2] != ':' || s[5] != ':' {
		return 0, 0, 0, 0, false
	}
	h, ok1 := jsonlDigits(s[0:2])
	m, ok2 := jsonlDigits(s[3:5])
	sec, ok3 := jsonlDigits(s[6:8])
	if frac := s[8:]; frac != "" {
		if len(frac) < 2 || len(frac) > 10 || frac[0] != '.' {
			return 0, 0, 0, 0, false
		}
		n, ok := jsonlDigits(frac[1:])
		if !ok {
			return 0, 0, 0, 0, false
		}
		for range 10 - len(frac) {
			n *= 10
		}
		ns = n
	}
	return h, m, sec, ns, ok1 && ok2 && ok3 && jsonlValidClock(h, m, sec, ns)
}

// jsonlDigits converts a non-empty run of at most 18 ASCII digits.
func jsonlDigits(s string) (int, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
