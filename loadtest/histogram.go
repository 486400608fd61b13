package loadtest

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the resolution: values below 2^subBits microseconds are
// exact, larger ones fall in buckets 1/2^(subBits-1) wide relative to
// their value (under 1.6% for subBits = 7).
const (
	subBits    = 7
	subCount   = 1 << subBits
	halfCount  = subCount / 2
	numBuckets = (64-subBits)*halfCount + subCount
)

// Histogram counts durations at microsecond resolution in log-linear
// buckets, HDR style. The zero value is ready; it is not safe for
// concurrent use (Recorder locks around it).
type Histogram struct {
	counts        [numBuckets]int64
	total         int64
	sum, min, max int64 // microseconds
}

// bucketOf returns the bucket index of v microseconds.
func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits
	return shift*halfCount + int(v>>shift)
}

// lowest returns the smallest value of bucket i.
func lowest(i int) uint64 {
	if i < subCount {
		return uint64(i)
	}
	shift := (i - halfCount) / halfCount
	m := uint64(i - shift*halfCount)
	return m << shift
}

// Record adds one duration; negative ones count as zero.
func (h *Histogram) Record(d time.Duration) {
	us := max(d.Microseconds(), 0)
	h.counts[bucketOf(uint64(us))]++
	if h.total == 0 || us < h.min {
		h.min = us
	}
	h.max = max(h.max, us)
	h.total++
	h.sum += us
}

// Merge adds every value of o.
func (h *Histogram) Merge(o *Histogram) {
	if o.total == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.total == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.total += o.total
	h.sum += o.sum
}

// Count is the number of values recorded.
func (h *Histogram) Count() int64 { return h.total }

// Min, Max and Mean of the values recorded (exact, not bucketed).
func (h *Histogram) Min() time.Duration { return us(h.min) }
func (h *Histogram) Max() time.Duration { return us(h.max) }
func (h *Histogram) Mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return us(h.sum / h.total)
}

// Percentile returns the value at rank ceil(p/100 × Count), 1-based: the
// lowest value of its bucket, clamped to [Min, Max]. It is exact for
// values a bucket represents exactly (all below 128 µs). 0 when empty.
func (h *Histogram) Percentile(p float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := max(int64(math.Ceil(p/100*float64(h.total))), 1)
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			v := min(max(int64(lowest(i)), h.min), h.max)
			return us(v)
		}
	}
	return us(h.max)
}

// Bucket is one non-empty bucket: values from Low (inclusive).
type Bucket struct {
	Low   time.Duration `json:"low_ns"`
	Count int64         `json:"count"`
}

// Buckets lists the non-empty buckets in order.
func (h *Histogram) Buckets() []Bucket {
	var out []Bucket
	for i, c := range h.counts {
		if c > 0 {
			out = append(out, Bucket{Low: us(int64(lowest(i))), Count: c})
		}
	}
	return out
}

func us(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
