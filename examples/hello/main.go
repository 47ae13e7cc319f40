// Command hello is kiln's example program: an HTTP server that greets and
// serves a file from its kodata/ directory.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "Hello from kiln! (%s/%s)\n", runtime.GOOS, runtime.GOARCH)
	})
	// Files in kodata/ are in the image at $KO_DATA_PATH.
	http.Handle("/static/", http.StripPrefix("/static/", http.FileServer(http.Dir(os.Getenv("KO_DATA_PATH")))))
	addr := ":" + port
	log.Printf("hello listening on %s, data in %s", addr, filepath.Clean(os.Getenv("KO_DATA_PATH")))
	log.Fatal(http.ListenAndServe(addr, nil))
}
