package watch

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Defaults for Options.
const (
	DefaultQuiet   = 100 * time.Millisecond
	DefaultMaxWait = time.Second
	// FallbackPoll is the polling interval used when inotify runs out of
	// watches or instances.
	FallbackPoll = time.Second
	// rootPoll is how often a removed root is looked for (one stat).
	rootPoll = 200 * time.Millisecond
)

// Options configure a Watcher.
type Options struct {
	// Root is the directory watched; globs and batch paths are relative to it.
	Root string
	// Include lists globs (see MatchWatch: one with no wildcard also
	// matches what is below it) a path must match one of to count; an
	// empty list counts every path that is not ignored.
	Include []string
	// Ignore lists globs of paths that never count, added to the defaults
	// (.git, node_modules, editor temp files, what .gitignore files ignore).
	// A glob that matches a directory ("dist", "dist/**") prunes it.
	Ignore []string
	// Poll > 0 walks the tree at this interval instead of using inotify,
	// for mounts that deliver no events (network, 9p, Docker Desktop).
	Poll time.Duration
	// Hash adds a content hash to the size+mtime a poll compares, so edits
	// that keep both (coarse mtimes on some mounts) are seen. Poll mode only.
	Hash bool
	// Quiet is how long no new change must arrive before a batch is sent
	// (DefaultQuiet when zero).
	Quiet time.Duration
	// MaxWait bounds how long a batch waits for quiet, so a never-ending
	// stream of changes still produces batches (DefaultMaxWait when zero).
	MaxWait time.Duration
	// Warn receives the single-line warnings (inotify limits reached, lost
	// events). Nil prints them to stderr.
	Warn func(string)

	// newNotifier replaces fsnotify in tests.
	newNotifier func() (notifier, error)
	// budget replaces descriptorBudget in tests.
	budget int
	// linkCap replaces linkCap in tests.
	linkCap int
}

// Batch is one debounced set of changes.
type Batch struct {
	// Paths changed, were created or were deleted: relative to Root,
	// slash-separated, sorted, without duplicates. Directories are not
	// listed; a new or removed directory shows up as its files. A file
	// created and gone again before the batch is sent is not listed.
	Paths []string
	// Rescan is set when the kernel dropped events (queue overflow) and the
	// tree was rescanned: Paths is what the size+mtime comparison found,
	// which may miss an edit that kept both. It may come with no Paths.
	Rescan bool
}

// Watcher watches a directory tree. See the package documentation.
type Watcher struct {
	root    string
	quiet   time.Duration
	maxWait time.Duration
	warn    func(string)
	walker  walker
	tree    tree
	// poll > 0 means polling mode, asked for or fallen back to.
	poll    time.Duration
	batches chan Batch
	// budget > 0 (kqueue) bounds the descriptors the notifier may hold:
	// cost is what each watched directory takes, itself and its entries;
	// spent is their sum.
	budget int
	cost   map[string]int
	spent  int
	// gone: the root was removed or moved away; it is looked for every
	// rootPoll and walked again when it is back.
	gone bool
	// rootReal is the root's real path, which followed symlinks are
	// compared with.
	rootReal string
	// rootInfo identifies the directory walked as the root (device and
	// inode): a root removed while something keeps it open (a worker's
	// cwd) sends no event, and one made again is another directory.
	rootInfo os.FileInfo
	// finish is closed by Finish.
	finish     chan struct{}
	finishOnce sync.Once
	// born collects, during one round, the files added to the snapshot
	// that were not in it before: debounce withdraws one that goes again
	// before its batch is sent.
	born map[string]struct{}

	// mu guards n, which Watches and Close read from other goroutines. The
	// goroutine running New, then Run, is the only one that replaces it.
	mu sync.Mutex
	n  notifier
}

// New walks Root, adding an inotify watch to every directory that is not
// pruned (or, in polling mode, taking the first snapshot). Hitting an
// inotify limit is not an error: it warns once and polls instead.
func New(opts Options) (*Watcher, error) {
	if opts.Root == "" {
		opts.Root = "."
	}
	root, err := filepath.Abs(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("watch: %s is not a directory", root)
	}
	w := &Watcher{
		root:    root,
		quiet:   orDefault(opts.Quiet, DefaultQuiet),
		maxWait: orDefault(opts.MaxWait, DefaultMaxWait),
		warn:    opts.Warn,
		poll:    opts.Poll,
		tree:    make(tree),
		born:    map[string]struct{}{},
		batches: make(chan Batch),
		finish:  make(chan struct{}),
		budget:  descriptorBudget,
		cost:    map[string]int{},

		rootInfo: fi,
	}
	if opts.budget > 0 {
		w.budget = opts.budget
	}
	if w.warn == nil {
		w.warn = func(s string) { fmt.Fprintln(os.Stderr, s) }
	}
	w.walker = walker{
		root:    root,
		filter:  newFilter(root, opts.Include, opts.Ignore),
		hash:    opts.Hash && opts.Poll > 0,
		seed:    maphash.MakeSeed(),
		visit:   w.addWatch,
		unvisit: w.unwatch,
		links:   map[string]string{},
		warn:    w.warn,
		warned:  map[string]bool{},

		maxLinkDirs: opts.linkCap,
	}
	w.rootReal, _ = filepath.EvalSymlinks(root)
	w.walker.rootReal = w.rootReal
	if w.poll <= 0 {
		newNotifier := opts.newNotifier
		if newNotifier == nil {
			newNotifier = newFSNotifier
		}
		n, err := newNotifier()
		if err != nil {
			msg := limitWarning(err, 0, FallbackPoll.String())
			if msg == "" {
				return nil, fmt.Errorf("watch: %w", err)
			}
			w.warn(msg)
			w.poll = FallbackPoll
		}
		w.n = n
	}
	w.walker.walk("", w.tree)
	return w, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Batches delivers the batches; Run closes it when it returns.
func (w *Watcher) Batches() <-chan Batch { return w.batches }

// Watches is the number of directories currently watched by inotify (0
// when polling).
func (w *Watcher) Watches() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n == nil {
		return 0
	}
	return w.n.Len()
}

// Close releases the inotify instance of a Watcher whose Run will not be
// called. Run releases it itself; do not call Close while Run runs.
func (w *Watcher) Close() error {
	w.mu.Lock()
	n := w.n
	w.n = nil
	w.mu.Unlock()
	if n == nil {
		return nil
	}
	return n.Close()
}

// Finish makes Run end as cancelling its context does, but only once it
// has sent what is pending: the changes waiting for quiet, the events not
// yet taken, and what a last walk finds changed since the snapshot (an
// event the kernel has not handed over yet). A caller that replaces a
// watcher makes the new one first, then finishes the old one and reads its
// Batches until closed: a change made in between is in one or the other.
func (w *Watcher) Finish() {
	w.finishOnce.Do(func() { close(w.finish) })
}

// Run sends batches on Batches until ctx is done or Finish is called, then
// closes the channel and returns nil. Run is called once.
func (w *Watcher) Run(ctx context.Context) error {
	defer close(w.batches)
	ctx, cancel := context.WithCancel(ctx)

	changes := make(chan change)
	debounced := make(chan struct{})
	go func() {
		defer close(debounced)
		debounce(ctx, changes, w.batches, w.quiet, w.maxWait)
	}()

	var (
		box     *inbox
		drained chan struct{}
	)
	if w.n != nil {
		box = newInbox()
		drained = make(chan struct{})
		// Read the channels here: Close (deferred below, or a fallback to
		// polling) replaces w.n while the goroutine may not have started.
		events, errs := w.n.Events(), w.n.Errors()
		go func() {
			defer close(drained)
			box.drain(events, errs)
		}()
	}
	defer func() {
		cancel()
		<-debounced
		w.Close()
		if drained != nil {
			<-drained
		}
	}()

	var kick <-chan struct{}
	if box != nil {
		kick = box.kick
	}
	var ticker, rootTicker *time.Ticker
	defer func() {
		if ticker != nil {
			ticker.Stop()
		}
		if rootTicker != nil {
			rootTicker.Stop()
		}
	}()
	for {
		var tick, back <-chan time.Time
		if w.poll > 0 {
			if ticker == nil {
				ticker = time.NewTicker(w.poll)
			}
			tick = ticker.C
		} else {
			// One stat per tick: is the root back, or still the same?
			if rootTicker == nil {
				rootTicker = time.NewTicker(rootPoll)
			}
			back = rootTicker.C
		}
		var c change
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
			ops, overflow, errs := box.take()
			for _, err := range errs {
				// Out of descriptors while watching new files: poll, and
				// the first poll finds what was missed.
				if limitWarning(err, 0, "") == "" {
					w.warn("watch: " + err.Error())
				} else if w.n != nil {
					w.limitHit(err)
				}
			}
			c.paths = w.process(ops)
			if overflow {
				w.rescan("", &c.paths)
				c.rescan, c.flush = true, true
			}
		case <-tick:
			w.pollRoot()
			w.rescan("", &c.paths)
			c.flush = true
		case <-back:
			if w.gone {
				w.lookForRoot(&c.paths)
			} else if w.rootLost() {
				w.rootGone(&c.paths)
			}
		case <-w.finish:
			w.last(box, changes, ctx.Done())
			close(changes)
			<-debounced // the last batch is sent
			return nil
		}
		c.kinds = w.kinds(c.paths, w.tree)
		if len(c.paths) == 0 && !c.rescan {
			continue
		}
		select {
		case changes <- c:
		case <-ctx.Done():
			return nil
		}
	}
}

// last hands debounce what Finish must not lose: the events in the inbox,
// then what a walk finds changed (without watching anything anew).
func (w *Watcher) last(box *inbox, changes chan<- change, done <-chan struct{}) {
	var c change
	if box != nil {
		ops, _, _ := box.take()
		c.paths = w.process(ops)
	}
	walker := w.walker
	walker.visit, walker.unvisit = nil, nil
	fresh := make(tree)
	walker.walk("", fresh)
	diff(w.tree, fresh, "", &c.paths, w.born)
	c.kinds = w.kinds(c.paths, fresh)
	if len(c.paths) == 0 {
		return
	}
	select {
	case changes <- c:
	case <-done:
	}
}

// process applies one round of drained events to the tree and returns the
// paths that changed. Removals go first: a directory that was deleted or
// moved away takes its watches and its files with it before a directory of
// the same name, or the one it moved to, is walked again.
func (w *Watcher) process(ops map[string]fsnotify.Op) []string {
	var changed []string
	// A root removed while held open sends no event of its own: removals
	// below it are the cue to check that it is still the one walked.
	if !w.gone {
		for _, op := range ops {
			if op.Has(fsnotify.Remove) || op.Has(fsnotify.Rename) {
				if w.rootLost() {
					w.rootGone(&changed)
					return changed
				}
				break
			}
		}
	}
	byRel := make(map[string]fsnotify.Op, len(ops))
	rels := make([]string, 0, len(ops))
	for name, op := range ops {
		rel, ok := w.rel(name)
		if !ok {
			continue
		}
		if rel == "" {
			if (op.Has(fsnotify.Remove) || op.Has(fsnotify.Rename)) && !w.gone {
				w.rootGone(&changed)
				return changed
			}
			continue
		}
		if _, dup := byRel[rel]; !dup {
			rels = append(rels, rel)
		}
		byRel[rel] |= op
	}
	// A directory known by several names (symlinks) is watched once, and
	// its events come under one of them: they count under each.
	if len(w.walker.links) > 0 {
		for _, rel := range slices.Clone(rels) {
			dir, name := path.Split(rel)
			dir = strings.TrimSuffix(dir, "/")
			if _, ok := w.tree[dir]; !ok {
				continue
			}
			for _, a := range w.walker.aliases(dir, w.rootReal, w.tree) {
				arel := join(a, name)
				if _, dup := byRel[arel]; !dup {
					rels = append(rels, arel)
				}
				byRel[arel] |= byRel[rel]
			}
		}
	}
	slices.Sort(rels) // parents before children

	for _, rel := range rels {
		if byRel[rel].Has(fsnotify.Remove) || byRel[rel].Has(fsnotify.Rename) {
			if _, ok := w.tree[rel]; ok {
				w.dropDir(rel, &changed)
			}
		}
	}
	var gitignores []string
	for _, rel := range rels {
		dir, name := path.Split(rel)
		dir = strings.TrimSuffix(dir, "/")
		files, ok := w.tree[dir]
		if !ok || isEditorTemp(name) {
			continue // its directory is gone or was never watched
		}
		// An attribute change alone (chmod, touch) counts only when it moved
		// the mtime of a known file: touch reloads, as a poll would see.
		attrOnly := byRel[rel] == fsnotify.Chmod
		if _, known := files[name]; attrOnly && !known {
			continue
		}
		if name == ".gitignore" && !attrOnly {
			gitignores = append(gitignores, dir)
		}
		abs := w.walker.abs(rel)
		info, err := os.Lstat(abs)
		// A symlink to a directory is one (walk follows it or not).
		isDir := err == nil && (info.IsDir() || info.Mode()&fs.ModeSymlink != 0 && isDirPath(abs))
		switch {
		case err != nil:
			if _, known := files[name]; known {
				delete(files, name)
				changed = append(changed, rel)
			}
		case attrOnly && isDir:
			continue
		case isDir:
			if _, ok := w.tree[rel]; ok {
				// Created where a directory is known: another one was
				// renamed over it (rename(2) onto an empty directory), and
				// the old one's watch went with it.
				if byRel[rel].Has(fsnotify.Create) {
					w.rescan(rel, &changed)
				}
				continue
			}
			if w.walker.filter.prune(rel) {
				continue
			}
			// Files created before the watch existed count as changes.
			sub := make(tree)
			w.walker.walk(rel, sub)
			for d, files := range sub {
				w.tree[d] = files
				for name := range files {
					changed = append(changed, join(d, name))
					w.born[join(d, name)] = struct{}{}
				}
			}
		default:
			if _, ok := w.tree[rel]; ok {
				w.dropDir(rel, &changed) // a link to a directory now to a file
			}
			if !w.walker.filter.counts(rel) {
				continue
			}
			st := w.walker.state(abs, info)
			old, known := files[name]
			if attrOnly && old == st {
				continue
			}
			if !known {
				w.born[rel] = struct{}{}
			}
			files[name] = st
			changed = append(changed, rel)
		}
	}
	// A changed .gitignore can prune or un-prune directories: rescan below it.
	for _, dir := range gitignores {
		if _, ok := w.tree[dir]; ok {
			w.rescan(dir, &changed)
		}
	}
	if w.budget > 0 && w.n != nil {
		w.recount(rels)
	}
	return changed
}

// kinds tells debounce what happened to each of paths in the round just
// processed, t being the snapshot after it, and starts the next round.
func (w *Watcher) kinds(paths []string, t tree) []kind {
	defer clear(w.born)
	if len(paths) == 0 {
		return nil
	}
	ks := make([]kind, len(paths))
	for i, p := range paths {
		dir, name := path.Split(p)
		if _, ok := t[strings.TrimSuffix(dir, "/")][name]; !ok {
			ks[i] = removed
		} else if _, ok := w.born[p]; ok {
			ks[i] = created
		}
	}
	return ks
}

// rootLost reports whether the root is gone: it cannot be stat'd, or it
// is another directory than the one walked (removed and made again).
func (w *Watcher) rootLost() bool {
	fi, err := os.Stat(w.root)
	return err != nil || !fi.IsDir() || w.rootInfo == nil || !os.SameFile(w.rootInfo, fi)
}

// rootGone forgets a root that went: its files are gone, and what is there
// when it is back counts.
func (w *Watcher) rootGone(changed *[]string) {
	w.warn(w.rootWarning())
	w.dropDir("", changed)
	w.gone = true
	w.lookForRoot(changed)
}

func (w *Watcher) rootWarning() string {
	return fmt.Sprintf("watch: %s was removed or moved; watching it again when it is back", w.root)
}

// pollRoot is rootGone and lookForRoot for polling, whose rescans see the
// files go and come back by themselves: it warns once, as inotify does.
func (w *Watcher) pollRoot() {
	if w.rootLost() && !w.gone {
		w.warn(w.rootWarning())
		w.gone = true
	}
	if fi, err := os.Stat(w.root); w.gone && err == nil && fi.IsDir() {
		w.gone = false
		w.rootInfo = fi
		w.rootReal, _ = filepath.EvalSymlinks(w.root)
		w.walker.rootReal = w.rootReal
	}
}

// lookForRoot walks the root again once it is back after being removed,
// watching it anew; the files it holds count as changed.
func (w *Watcher) lookForRoot(changed *[]string) {
	fi, err := os.Stat(w.root)
	if err != nil || !fi.IsDir() {
		return
	}
	w.gone = false
	w.rootInfo = fi
	w.rootReal, _ = filepath.EvalSymlinks(w.root)
	w.walker.rootReal = w.rootReal
	w.rescan("", changed)
	if _, ok := w.tree[""]; !ok {
		w.gone = true // removed again while it was read
	}
}

// rescan walks sub again (adding watches to new directories), appends what
// differs from the snapshot to changed, and drops the watches of
// directories that vanished or are now pruned. Polls are rescans of "".
func (w *Watcher) rescan(sub string, changed *[]string) {
	fresh := make(tree)
	w.walker.walk(sub, fresh)
	diff(w.tree, fresh, sub, changed, w.born)
	for d := range w.tree {
		if !isWithin(d, sub) {
			continue
		}
		if _, ok := fresh[d]; !ok {
			w.unwatch(d)
		}
		delete(w.tree, d)
	}
	for d, files := range fresh {
		w.tree[d] = files
	}
	for l := range w.walker.links {
		if _, ok := fresh[l]; !ok && isWithin(l, sub) {
			delete(w.walker.links, l)
		}
	}
}

// dropDir forgets the directory rel and everything below it, reporting its
// files as changed.
func (w *Watcher) dropDir(rel string, changed *[]string) {
	for _, d := range w.tree.drop(rel, changed) {
		w.unwatch(d)
	}
	w.walker.filter.forget(rel)
	w.walker.forgetLinks(rel)
}

// addWatch is the walker's visit: the watch comes before the directory is
// read, so a file created in between is either read or reported.
func (w *Watcher) addWatch(abs, rel string) {
	if w.n == nil {
		return
	}
	if w.budget > 0 {
		c := 1 + entries(abs)
		w.spent += c - w.cost[rel]
		w.cost[rel] = c
		if w.spent > w.budget {
			w.fallBack(budgetWarning(w.root, w.budget, FallbackPoll.String()))
			return
		}
	}
	err := w.n.Add(abs)
	if err == nil {
		return
	}
	if w.limitHit(err) {
		return
	}
	// A directory that vanished, or that we may not read, is left
	// unwatched: reading it fails the same way, so nothing is missed.
	if fi, serr := os.Stat(abs); serr != nil || !fi.IsDir() || errors.Is(err, fs.ErrPermission) {
		return
	}
	// Anything else may pass: kqueue opens every file in the directory,
	// and one deleted mid-walk fails the whole Add. Once more, from a
	// clean slate (the watches a failed Add left behind go first).
	_ = w.n.Remove(abs)
	if err = w.n.Add(abs); err == nil || w.limitHit(err) {
		return
	}
	if fi, serr := os.Stat(abs); serr != nil || !fi.IsDir() {
		return
	}
	// It stays (a symlink loop, a link to a socket): the directory would
	// be silently unwatched, so poll instead, as when a limit is hit.
	w.fallBack(fmt.Sprintf("watch: cannot watch %s: %v; polling every %s instead", abs, err, FallbackPoll))
}

// limitHit falls back to polling when err is the notifier running out of
// a kernel limit (watches, instances, descriptors), and reports whether it
// was.
func (w *Watcher) limitHit(err error) bool {
	msg := limitWarning(err, w.n.Len(), FallbackPoll.String())
	if msg == "" {
		return false
	}
	w.fallBack(msg)
	return true
}

// fallBack warns once and polls from now on: the notifier is closed, so
// nothing adds to it again.
func (w *Watcher) fallBack(msg string) {
	w.warn(msg)
	w.Close()
	w.poll = FallbackPoll
}

// recount updates the descriptor cost of the directories rels are in
// (kqueue opened one for each file created there since they were walked,
// and fsnotify drops the errors of those opens) and falls back to polling
// past the budget, as at the walk.
func (w *Watcher) recount(rels []string) {
	seen := map[string]bool{}
	for _, rel := range rels {
		dir, _ := path.Split(rel)
		dir = strings.TrimSuffix(dir, "/")
		if _, ok := w.cost[dir]; !ok || seen[dir] {
			continue
		}
		seen[dir] = true
		c := 1 + entries(w.walker.abs(dir))
		w.spent += c - w.cost[dir]
		w.cost[dir] = c
	}
	if w.spent > w.budget {
		w.fallBack(budgetWarning(w.root, w.budget, FallbackPoll.String()))
	}
}

func (w *Watcher) unwatch(rel string) {
	w.spent -= w.cost[rel]
	delete(w.cost, rel)
	if w.n == nil {
		return
	}
	// An error means the kernel already dropped the watch (the directory
	// was deleted), which is the outcome wanted, or that the directory is
	// watched under another of its names.
	if w.n.Remove(w.walker.abs(rel)) != nil {
		return
	}
	// The kernel watches a directory once, whatever its names: one still
	// known by another name (a symlink) needs its watch back.
	for _, a := range w.walker.aliases(rel, w.rootReal, w.tree) {
		_ = w.n.Add(w.walker.abs(a))
	}
}

// rel turns an event's absolute name into a root-relative slash path.
func (w *Watcher) rel(name string) (string, bool) {
	if name == w.root {
		return "", true
	}
	prefix := w.root
	if !strings.HasSuffix(prefix, string(filepath.Separator)) {
		prefix += string(filepath.Separator)
	}
	if !strings.HasPrefix(name, prefix) {
		return "", false
	}
	return filepath.ToSlash(name[len(prefix):]), true
}

// inbox is where the drain goroutine parks events, so that fsnotify's
// channel (and the kernel queue behind it) is emptied as fast as events
// come, whatever the walking goroutine is doing. Repeated events for a path
// collapse into one entry.
type inbox struct {
	mu       sync.Mutex
	ops      map[string]fsnotify.Op
	overflow bool
	errs     []error
	kick     chan struct{} // capacity 1: "there is something to take"
}

func newInbox() *inbox {
	return &inbox{ops: make(map[string]fsnotify.Op), kick: make(chan struct{}, 1)}
}

// drain only moves events and errors into the inbox. It returns when
// fsnotify closes its channels.
func (b *inbox) drain(events <-chan fsnotify.Event, errs <-chan error) {
	for events != nil || errs != nil {
		select {
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			b.mu.Lock()
			b.ops[ev.Name] |= ev.Op
			b.mu.Unlock()
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			b.mu.Lock()
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				b.overflow = true
			} else if len(b.errs) < 8 {
				b.errs = append(b.errs, err)
			}
			b.mu.Unlock()
		}
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
}

// take empties the inbox.
func (b *inbox) take() (ops map[string]fsnotify.Op, overflow bool, errs []error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ops, overflow, errs = b.ops, b.overflow, b.errs
	b.ops = make(map[string]fsnotify.Op, len(ops))
	b.overflow = false
	b.errs = nil
	return ops, overflow, errs
}
