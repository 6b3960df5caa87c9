package layer

import (
	"context"
	"io"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/text2agent/tfstate-guard/layer/internal/wheeltest"
)

// BenchmarkBuild builds a layer of a psycopg2-binary-sized wheel (about 3 MB
// zipped, 10 MB unzipped) from a local index. scripts/bench-layer.sh
// compares the same job with pip.
func BenchmarkBuild(b *testing.B) {
	big := wheeltest.Big("2.9.10", "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64")
	ix := &wheeltest.Index{}
	ix.Add("psycopg2-binary", wheeltest.WheelFile(big))
	srv := httptest.NewServer(ix)
	defer srv.Close()
	reqs := []Requirement{{Name: "psycopg2-binary", Version: "2.9.10", Line: 1}}
	dir := b.TempDir()
	b.ReportAllocs()
	for b.Loop() {
		_, err := Build(context.Background(), Options{
			Requirements: reqs,
			IndexURL:     srv.URL + "/simple/",
			Output:       filepath.Join(dir, "layer.zip"),
			Progress:     io.Discard,
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
