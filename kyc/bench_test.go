package kyc

import (
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// genReader is a generated document of n bytes (a JPEG signature, then
// filler): nothing of it is held in memory.
type genReader struct{ off, n int64 }

func (g *genReader) Read(p []byte) (int, error) {
	if g.off >= g.n {
		return 0, io.EOF
	}
	k := min(int64(len(p)), g.n-g.off)
	for i := range k {
		switch j := g.off + i; j {
		case 0:
			p[i] = 0xFF
		case 1:
			p[i] = 0xD8
		case 2:
			p[i] = 0xFF
		default:
			p[i] = byte(j)
		}
	}
	g.off += k
	return int(k), nil
}

// procStatus reads a kB field of /proc/self/status, in bytes.
func procStatus(b testing.TB, field string) int64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n << 10
		}
	}
	b.Fatalf("no %s in /proc/self/status", field)
	return 0
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkUploads20x10MiB: 20 concurrent uploads of a 10 MiB document
// through the customer page over real HTTP into the real MinIO, against
// the same 20 documents put directly with minio-go. Reported: the peak RSS
// growth of the process during the gateway uploads (the bound is 64 MiB;
// the clients' bodies are generated, not held), the gateway's throughput
// as a fraction of MinIO's own, and CPU time per upload. One op is one
// round of 20 + 20 uploads.
func BenchmarkUploads20x10MiB(b *testing.B) {
	const (
		n    = 20
		size = 10 << 20
	)
	rdb, prefix := standalone(b)
	e := newEnv(b, rdb, prefix, Config{}, "", "p1")
	srv := httptest.NewServer(e.page)
	defer srv.Close()
	ctx := context.Background()
	var gwTime, directTime, gwCPU time.Duration
	var peak int64
	for i := 0; b.Loop(); i++ {
		links := make([]string, n)
		for j := range links {
			links[j], _ = e.svc.KYCLink("key:bench", fmt.Sprintf("%d-%d", i, j), "Ann Lee", "")
		}
		// Reset the peak RSS to the current RSS (Linux: clear_refs 5).
		if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
			b.Skipf("cannot reset the peak RSS: %v", err)
		}
		base := procStatus(b, "VmRSS")
		cpu0 := cpuTime()
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for _, link := range links {
			wg.Go(func() {
				pr, pw := io.Pipe()
				mw := multipart.NewWriter(pw)
				go func() {
					mw.WriteField("legal_name", "Ann Lee")
					mw.WriteField("document_type", "passport")
					fw, _ := mw.CreateFormFile("front", "p.jpg")
					_, err := io.Copy(fw, &genReader{n: size})
					if err == nil {
						err = mw.Close()
					}
					pw.CloseWithError(err)
				}()
				req, _ := http.NewRequest(http.MethodPost, srv.URL+pathOf(b, link), pr)
				req.Header.Set("Content-Type", mw.FormDataContentType())
				req.Header.Set("Sec-Fetch-Site", "same-origin")
				resp, err := srv.Client().Do(req)
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("upload: %s", resp.Status)
				}
			})
		}
		wg.Wait()
		gwTime += time.Since(start)
		gwCPU += cpuTime() - cpu0
		peak = max(peak, procStatus(b, "VmHWM")-base)
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}

		start = time.Now()
		for j := range n {
			wg.Go(func() {
				key := fmt.Sprintf("direct/%d-%d", i, j)
				if _, err := e.store.client.PutObject(ctx, e.store.bucket, key, &genReader{n: size}, size, minio.PutObjectOptions{ContentType: TypeJPEG}); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		directTime += time.Since(start)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-rss-growth-MiB")
	b.ReportMetric(directTime.Seconds()/gwTime.Seconds(), "throughput-vs-minio")
	b.ReportMetric(float64(gwCPU.Microseconds())/float64(b.N*n)/1000, "cpu-ms/upload")
	if peak > 64<<20 {
		b.Errorf("peak RSS growth %d MiB over the 64 MiB bound", peak>>20)
	}
}
