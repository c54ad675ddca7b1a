// The property test's upstream, in the upstream's own language: it reads
// every request the way distribution 2.8 does, with Go's net/http, url and
// mime, and records what Go made of it. The gateway authorizes what it
// parsed; this shows what the registry would execute.
//
// Usage: oracle -listen 127.0.0.1:PORT -control 127.0.0.1:PORT
// The control listener answers GET /records with the JSON records seen so
// far and forgets them. Standard library only: it builds offline.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"mime"
	"net/http"
	"strings"
	"sync"
)

// Record is one request as the registry's Go code sees it.
type Record struct {
	Method        string              `json:"method"`
	Host          string              `json:"host"`
	Path          string              `json:"path"`
	RawPath       string              `json:"rawPath"`
	RawQuery      string              `json:"rawQuery"`
	Query         map[string][]string `json:"query"`
	Form          map[string][]string `json:"form"`
	FormError     string              `json:"formError"`
	FormValues    map[string]string   `json:"formValues"`
	MediaType     string              `json:"mediaType"`
	MediaParams   map[string]string   `json:"mediaParams"`
	MediaError    string              `json:"mediaError"`
	Header        map[string][]string `json:"header"`
	Trailer       map[string][]string `json:"trailer"`
	TransferEnc   []string            `json:"transferEncoding"`
	ContentLength int64               `json:"contentLength"`
	BodyBytes     int                 `json:"bodyBytes"`
}

var (
	mu      sync.Mutex
	records []Record
)

// The values distribution's handlers read with FormValue.
var formKeys = []string{"mount", "from", "digest", "n", "last", "_state"}

func record(r *http.Request) Record {
	// The raw body first (FormValue consumes it), then put back for Go's parsers.
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := Record{
		Method: r.Method, Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery,
		Query: r.URL.Query(), Header: r.Header, TransferEnc: r.TransferEncoding,
		ContentLength: r.ContentLength, BodyBytes: len(body), FormValues: map[string]string{},
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	rec.MediaType, rec.MediaParams = mt, params
	if err != nil {
		rec.MediaError = err.Error()
	}
	// FormValue as StartBlobUpload and PutBlobUploadComplete call it: body ahead of the query.
	for _, k := range formKeys {
		rec.FormValues[k] = r.FormValue(k)
	}
	if err := r.ParseMultipartForm(32 << 20); err != nil && err != http.ErrNotMultipart {
		rec.FormError = err.Error()
	}
	rec.Form = r.Form
	rec.Trailer = r.Trailer
	return rec
}

func answer(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	w.Header().Set("Content-Type", "application/json")
	path := r.URL.Path
	switch {
	case path == "/v2/_catalog":
		fmt.Fprint(w, `{"repositories":["alice/secret","bob/app","carol/x","public/app"]}`)
	case strings.HasSuffix(path, "/tags/list"):
		name := strings.TrimSuffix(strings.TrimPrefix(path, "/v2/"), "/tags/list")
		_ = json.NewEncoder(w).Encode(map[string]interface{}{"name": name, "tags": []string{"1", "2"}})
	case r.Method == http.MethodPost && strings.HasSuffix(path, "/blobs/uploads/"):
		w.Header().Set("Location", path+"u-1")
		w.WriteHeader(http.StatusAccepted)
	default:
		fmt.Fprint(w, `{}`)
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address the gateway forwards to")
	control := flag.String("control", "127.0.0.1:0", "address the test reads records from")
	flag.Parse()
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := record(r)
		mu.Lock()
		records = append(records, rec)
		mu.Unlock()
		answer(w, r)
	})
	ctl := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		out := records
		records = nil
		mu.Unlock()
		if out == nil {
			out = []Record{}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	go func() { log.Fatal(http.ListenAndServe(*control, ctl)) }()
	log.Printf("oracle listening on %s", *listen)
	log.Fatal(http.ListenAndServe(*listen, upstream))
}
