package services

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// PatternByte is byte i of the body of GET /bytes/N: the residues mod
// 251, a prime, so that a shifted or repeated block shows.
func PatternByte(i int64) byte { return byte(i % 251) }

// HTTPHandler is the HTTP service: GET / (a greeting naming the client),
// GET /bytes/N (N bytes of PatternByte, N from 0 to 2^34; 400
// otherwise) and POST /sha256 (the hex SHA-256 of the body, two spaces,
// and its length in bytes, as sha256sum prints a digest).
func HTTPHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "Hello from usertcp: Go's net/http over gen_tcp over a userspace TCP/IP stack (gVisor netstack).\nYou are %s.\n", r.RemoteAddr)
	})
	mux.HandleFunc("GET /bytes/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.PathValue("n"), 10, 64)
		if err != nil || n < 0 || n > 1<<34 {
			http.Error(w, "want /bytes/N with N from 0 to 2^34", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		buf := make([]byte, 64<<10)
		for off := int64(0); off < n; {
			k := min(int64(len(buf)), n-off)
			for i := range k {
				buf[i] = PatternByte(off + i)
			}
			if _, err := w.Write(buf[:k]); err != nil {
				return
			}
			off += k
		}
	})
	mux.HandleFunc("POST /sha256", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%x  %d\n", h.Sum(nil), n)
	})
	return mux
}
