// Command benchlayer is the layer builder's half of scripts/bench-layer.sh:
// "serve" runs a local package index with a psycopg2-binary-sized wheel and
// two pure wheels, "build" builds a layer from an index with layer.Build.
// pip does the same job from the same index in the script, so the two can
// be timed side by side without the public index.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/text2agent/tfstate-guard/layer"
	"github.com/text2agent/tfstate-guard/layer/internal/wheeltest"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "benchlayer:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New(`usage: benchlayer serve -url-file FILE | benchlayer build -index URL -requirements FILE -output ZIP`)
	}
	switch args[0] {
	case "serve":
		return serve(args[1:])
	case "build":
		return build(args[1:])
	}
	return fmt.Errorf("unknown command %q; use serve or build", args[0])
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	urlFile := fs.String("url-file", "", "write the index URL to this file once it listens")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ix := &wheeltest.Index{}
	ix.Add("psycopg2-binary",
		wheeltest.WheelFile(wheeltest.Big("2.9.10", "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64")),
		wheeltest.WheelFile(wheeltest.Psycopg2Like("2.9.10", "cp311-cp311-musllinux_1_1_x86_64")),
		wheeltest.WheelFile(wheeltest.Psycopg2Like("2.9.10", "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64")),
	)
	ix.Add("tiny-dep", wheeltest.WheelFile(wheeltest.Pure("tiny-dep", "1.0", "tinydep")))
	ix.Add("other-dep", wheeltest.WheelFile(wheeltest.Pure("other-dep", "2.1", "otherdep")))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String() + "/simple/"
	if *urlFile != "" {
		if err := os.WriteFile(*urlFile, []byte(url+"\n"), 0o644); err != nil {
			return err
		}
	}
	srv := &http.Server{Handler: ix}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func build(args []string) error {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	index := fs.String("index", "", "simple API root")
	reqFile := fs.String("requirements", "", "requirements file")
	output := fs.String("output", "layer.zip", "zip to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	reqs, err := layer.LoadRequirements(*reqFile, os.ReadFile)
	if err != nil {
		return err
	}
	res, err := layer.Build(context.Background(), layer.Options{
		Requirements: reqs,
		IndexURL:     *index,
		Output:       *output,
		Progress:     os.Stderr,
	})
	if err != nil {
		return err
	}
	fmt.Printf("%s %d %s\n", res.Path, res.Size, res.SHA256Base64)
	return nil
}
