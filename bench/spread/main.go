// Command spread sends N requests on fresh connections, C at a time, to a
// cluster of demo workers and prints how many each worker answered (the demo
// answers "hello from web.N pid P"): the spread of connections over workers.
//
//	go run ./bench/spread -url http://127.0.0.1:8080/ -n 2000 -c 8
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8080/", "URL of the demo workers")
	n := flag.Int("n", 2000, "requests")
	c := flag.Int("c", 8, "concurrent clients")
	workers := flag.Int("workers", 4, "workers expected (those that answer nothing count as 0)")
	label := flag.String("label", "", "label of the output line")
	flag.Parse()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var mu sync.Mutex
	counts := map[string]int{}
	var errs atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	for range *c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(*n) {
				resp, err := client.Get(*url)
				if err != nil {
					errs.Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				f := strings.Fields(string(body))
				if len(f) < 3 {
					errs.Add(1)
					continue
				}
				mu.Lock()
				counts[f[2]]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	var names []string
	for k := range counts {
		names = append(names, k)
	}
	slices.Sort(names)
	vals := make([]int, 0, *workers)
	var parts []string
	for _, k := range names {
		vals = append(vals, counts[k])
		parts = append(parts, fmt.Sprintf("%s=%d", k, counts[k]))
	}
	for len(vals) < *workers {
		vals = append(vals, 0)
	}
	lo, hi := slices.Min(vals), slices.Max(vals)
	ratio := "inf"
	if lo > 0 {
		ratio = fmt.Sprintf("%.1f", float64(hi)/float64(lo))
	}
	fmt.Printf("%-28s c=%-3d %s  max/min %s  errors %d\n", *label, *c, strings.Join(parts, " "), ratio, errs.Load())
	if errs.Load() > 0 {
		os.Exit(1)
	}
}
