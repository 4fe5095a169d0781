package watch

import "github.com/fsnotify/fsnotify"

// notifier is the slice of fsnotify the watcher uses. It is the seam tests
// use to inject what a real kernel will not do on demand: a queue overflow,
// or running out of inotify watches.
type notifier interface {
	Add(dir string) error
	Remove(dir string) error
	Events() <-chan fsnotify.Event
	Errors() <-chan error
	// Len is the number of watches the notifier holds.
	Len() int
	Close() error
}

type fsNotifier struct{ w *fsnotify.Watcher }

func newFSNotifier() (notifier, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	return fsNotifier{w}, nil
}

func (n fsNotifier) Add(dir string) error          { return n.w.Add(dir) }
func (n fsNotifier) Remove(dir string) error       { return n.w.Remove(dir) }
func (n fsNotifier) Events() <-chan fsnotify.Event { return n.w.Events }
func (n fsNotifier) Errors() <-chan error          { return n.w.Errors }
func (n fsNotifier) Len() int                      { return len(n.w.WatchList()) }
func (n fsNotifier) Close() error                  { return n.w.Close() }
