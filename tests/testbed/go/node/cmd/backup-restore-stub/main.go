// Command backup-restore-stub stands in for etcd-backup-restore in test
// pods (it is copied into images as etcdbrctl; argv[0] does not matter).
//
//	backup-restore-stub serve --listen :8080 --state /tmp/br-health
//	backup-restore-stub set-health true|false --state /tmp/br-health
//
// serve answers GET /healthz with {"health":true} (200) or
// {"health":false} (503): healthy unless the state file says "false".
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "serve":
		fs := flag.NewFlagSet("serve", flag.ExitOnError)
		listen := fs.String("listen", ":8080", "listen address")
		state := fs.String("state", "/tmp/br-health", "health state file")
		_ = fs.Parse(os.Args[2:])
		serve(*listen, *state)
	case "set-health":
		if len(os.Args) < 3 || (os.Args[2] != "true" && os.Args[2] != "false") {
			usage()
		}
		fs := flag.NewFlagSet("set-health", flag.ExitOnError)
		state := fs.String("state", "/tmp/br-health", "health state file")
		_ = fs.Parse(os.Args[3:])
		tmp := *state + ".tmp"
		if err := os.WriteFile(tmp, []byte(os.Args[2]+"\n"), 0o644); err != nil {
			fail(err)
		}
		if err := os.Rename(tmp, *state); err != nil {
			fail(err)
		}
	default:
		usage()
	}
}

func healthy(state string) bool {
	b, err := os.ReadFile(state)
	if err != nil {
		return true // missing: healthy
	}
	return strings.TrimSpace(string(b)) != "false"
}

func serve(listen, state string) {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if healthy(state) {
			w.WriteHeader(http.StatusOK)
			fmt.Fprint(w, `{"health":true}`)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"health":false}`)
	})
	fmt.Fprintf(os.Stderr, "backup-restore-stub: serving /healthz on %s (state %s)\n", listen, state)
	fail(http.ListenAndServe(listen, mux))
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: backup-restore-stub serve [--listen :8080] [--state FILE]\n"+
		"       backup-restore-stub set-health true|false [--state FILE]")
	os.Exit(2)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "backup-restore-stub:", err)
	os.Exit(1)
}
