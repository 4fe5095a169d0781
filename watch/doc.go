// Package watch turns file-system activity under one root directory into
// debounced batches of changed paths. It knows nothing of processes: the
// caller decides what a batch means (cluster reloads the process types whose
// globs it matches).
//
// # Model
//
// New walks the root once. Every directory that is not pruned gets an
// inotify watch (fsnotify watches directories, not files; with kqueue it
// opens each file too), and the counting files are recorded with their size
// and mtime: this snapshot is what a rescan or a poll compares against. Run
// then runs three goroutines:
//
//   - drain moves fsnotify's events into a map keyed by path as fast as they
//     come, so the kernel queue does not overflow while the tree is walked;
//   - the walking goroutine (Run itself) owns the snapshot, the watches and
//     the filter: it takes the map, adds a watch to each new directory and
//     then walks it (files created before the watch existed still count, and
//     nested directories get watches), drops the watches of directories that
//     went away, and passes the paths that count on;
//   - debounce collects those paths into a batch that is sent once no path
//     has arrived for Options.Quiet (100 ms), or Options.MaxWait (1 s) after
//     its first path, so a never-ending stream still fires.
//
// When the kernel reports a queue overflow, the tree is rescanned against
// the snapshot and the differences go out at once as one batch with Rescan
// set. In polling mode (Options.Poll, for mounts that deliver no events) the
// same rescan runs at each interval instead of inotify. The root is known
// by its device and inode: it counts as removed when a stat of it fails or
// finds another directory, checked on every batch with removals and every
// 200 ms (one stat), since a root something holds open (a worker's cwd)
// sends no removal event. It is then looked for every 200 ms; once it is
// back it is walked and watched again, and the files in it count as changed.
// Polling warns of the removal the same way.
//
// Cancelling Run's context drops a batch not sent yet. Finish ends it
// without losing anything: the pending batch goes out at once, with the
// events not yet taken and what a last walk finds changed, so a caller
// that replaces a watcher (new settings) starts the new one first and
// finishes the old one: every change is in one batch or the other.
//
// # Invariants
//
//   - A watch is added before its directory is read; nothing created in
//     between is missed.
//   - Pruned directories are never walked nor watched: .git, node_modules,
//     directories matched by an Options.Ignore glob, and what the .gitignore
//     files ignore (nested ones, and those above the root up to the work
//     tree's top).
//   - A path counts when it is not a directory, not an editor temp file
//     (*.swp, *.swx, vim's other swap files .*.swa to .*.swo, *~, 4913,
//     .#*, #*#, JetBrains' ___jb_tmp___ and ___jb_old___, *.kate-swp), not
//     ignored, and matches an Include glob (or Include is empty).
//     An attribute-only event (chmod, touch) counts when the file's size
//     or mtime differs from the snapshot, so `touch` is a change with
//     inotify as it is when polling, and a bare chmod is none in either.
//   - Batch paths are root-relative, slash-separated, sorted and unique.
//   - A file created while its batch waits for quiet and removed (or
//     renamed away) before the batch is sent is withdrawn from it: the
//     temp file of sed -i, perl -pi or gedit, renamed over the real file,
//     is not listed, and a batch left empty is not sent. A file that was in
//     the snapshot and is removed is always listed.
//   - Running out of inotify watches or instances is never fatal: one
//     warning line names the sysctl to raise and the watcher polls every
//     second instead.
//   - With kqueue (macOS, the BSDs: fsnotify holds an open descriptor for
//     every watched directory and every file in one), a tree of more than
//     descriptorBudget (4096) files and directories is polled instead, with
//     one warning; the count is taken at the walk and again, for the
//     directories a batch touched, on every batch, as files created later
//     take descriptors too. Running out of descriptors anyway (at an Add, or
//     as an error fsnotify reports) falls back the same way.
//   - A directory that is still there but cannot be watched for another
//     reason (kqueue opens every file in it: a symlink loop, a link to a
//     socket; one deleted mid-walk fails the Add once) is tried once more,
//     then the watcher polls, with one warning naming it. One that is gone
//     or may not be read is left unwatched: reading it fails the same way.
//   - Only the walking goroutine touches the snapshot, watches and filter;
//     the other two exchange data through the inbox and channels.
//
// A symbolic link to a directory is followed, inside the root or out of
// it, and its files count under the link's name; one that leads back to a
// directory it lies in (by real path) is not, so walks end. Nor is a link
// into a pruned directory of the root, nor, below another link, one to a
// directory the walk has read already (directories linked into each other
// would otherwise be walked once per path through them). One walk reaches
// at most 4096 directories through links; past that, one warning names
// the link and the rest of it is not watched. A directory
// known by several names has one inotify watch, whose events count under
// every name. Gitignore negations cannot re-include a
// file below an ignored directory (as in git); a pattern ending in "/**"
// also prunes the directory itself (see Match).
package watch
