package bench

import (
	"errors"
	"testing"
)

// RunB runs b.N operations of case c as a go test benchmark and reports
// its figures (MB/s for bulk; percentiles and rates as extra metrics). A
// case that cannot run here is skipped with its reason.
func RunB(b *testing.B, c Case) {
	s, err := Start(c)
	if errors.Is(err, ErrUnavailable) {
		b.Skip(err)
	}
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if c.Measurement == Bulk {
		b.SetBytes(Chunk)
	}
	b.ResetTimer()
	if err := s.Run(b.N); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	for k, v := range s.Metrics() {
		if k != BytesPerSec && k != Mean { // MB/s and ns/op say these
			b.ReportMetric(v, k)
		}
	}
}
