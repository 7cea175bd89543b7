// A Go program nobody wrote for TARS: goroutines, channels, a select with time.After,
// time.Sleep, maps and the garbage collector. It prints one line the test checks.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

func main() {
	start := time.Now()
	// Workers square numbers over channels.
	jobs := make(chan int)
	results := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range jobs {
				results <- n * n
			}
		}()
	}
	go func() {
		for n := 1; n <= 100; n++ {
			jobs <- n
		}
		close(jobs)
	}()
	go func() { wg.Wait(); close(results) }()
	sum := 0
	for r := range results {
		sum += r
	}
	// A map and garbage: allocate, drop, collect.
	words := map[string]int{}
	for i := 0; i < 20000; i++ {
		words[fmt.Sprintf("w%d", i%500)] += i
	}
	garbage := make([][]byte, 0)
	for i := 0; i < 200; i++ {
		garbage = append(garbage, make([]byte, 16<<10))
	}
	garbage = nil
	runtime.GC()
	keys := make([]string, 0, len(words))
	for k := range words {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// A select with a timer: the channel never sends, time.After fires.
	never := make(chan int)
	timedOut := false
	select {
	case <-never:
	case <-time.After(30 * time.Millisecond):
		timedOut = true
	}
	time.Sleep(20 * time.Millisecond)
	slept := time.Since(start) >= 50*time.Millisecond
	// A ticker driving a goroutine, answered over a channel.
	ticks := 0
	t := time.NewTicker(5 * time.Millisecond)
	for range t.C {
		ticks++
		if ticks == 3 {
			t.Stop()
			break
		}
	}
	fmt.Printf("go answer sum=%d keys=%d first=%s timeout=%v slept=%v ticks=%d args=%s\n", sum, len(keys), keys[0], timedOut, slept, ticks, strings.Join(os.Args[1:], ","))
}
