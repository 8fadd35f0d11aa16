package orders

import (
	"net/http"
)

// kycPage is what the answer's kyc link shows until the document upload
// exists (issue 10): that documents are requested, and nothing about the
// order or the account (the link carries no identifier).
const kycPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Documents requested</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>Documents requested</h1>
<p>Before we can activate your order we need to confirm your identity.
We will ask you for your documents by email; you do not need to do anything on this page.</p>
</main></body></html>
`

// KYCPage serves KYCPath on the public side (GET and HEAD).
func KYCPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "This page can only be read.", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Security-Policy", "default-src 'none'")
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write([]byte(kycPage))
	})
}
