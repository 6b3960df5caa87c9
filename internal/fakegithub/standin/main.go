// Command standin serves internal/fakegithub on 127.0.0.1 at a port chosen
// at run time: a local stand-in for GitHub's workflow-run API, for the demo
// (it is not github.com and says so). It writes its base URL to -url-file
// and serves until it is killed. Runs are set with
// PUT /_stand-in/repos/{owner}/{repo}/runs/{id}/attempts/{n}.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/text2agent/tfstate-guard/internal/fakegithub"
)

func main() {
	urlFile := flag.String("url-file", "", "file to write the stand-in's base URL to")
	flag.Parse()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "standin:", err)
		os.Exit(1)
	}
	url := "http://" + l.Addr().String()
	if *urlFile != "" {
		if err := os.WriteFile(*urlFile, []byte(url+"\n"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "standin:", err)
			os.Exit(1)
		}
	}
	srv := &http.Server{Handler: fakegithub.New(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(os.Stderr, "GitHub API stand-in (local, not github.com) at %s\n", url)
	if err := srv.Serve(l); err != nil {
		fmt.Fprintln(os.Stderr, "standin:", err)
		os.Exit(1)
	}
}
