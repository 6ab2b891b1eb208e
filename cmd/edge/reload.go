package main

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// configWatcher reloads the safe fields of the config file when it changes
// on disk or the process gets SIGHUP.
type configWatcher struct {
	m      *Main
	hup    chan os.Signal
	w      *fsnotify.Watcher // nil without a config file
	target string
}

// watchConfig starts listening for SIGHUP and file changes at once (so
// that nothing is missed between Run's start and its readiness); run
// handles them until ctx is done.
func (m *Main) watchConfig() (*configWatcher, error) {
	cw := &configWatcher{m: m, hup: make(chan os.Signal, 1), target: filepath.Clean(m.ConfigPath)}
	signal.Notify(cw.hup, syscall.SIGHUP)
	if m.ConfigPath != "" {
		w, err := fsnotify.NewWatcher()
		if err != nil {
			signal.Stop(cw.hup)
			return nil, err
		}
		// Watch the directory: editors and config managers replace files
		// by renaming, which a watch on the file itself would lose.
		if err := w.Add(filepath.Dir(m.ConfigPath)); err != nil {
			m.logger.Warn("config file not watched; SIGHUP still reloads", "err", err)
		}
		cw.w = w
	}
	return cw, nil
}

func (cw *configWatcher) run(ctx context.Context) error {
	defer signal.Stop(cw.hup)
	var events <-chan fsnotify.Event
	var errs <-chan error
	if cw.w != nil {
		defer cw.w.Close()
		events, errs = cw.w.Events, cw.w.Errors
	}
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-cw.hup:
			cw.m.reload("SIGHUP")
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if filepath.Clean(ev.Name) == cw.target && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) != 0 {
				debounce = time.After(100 * time.Millisecond)
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			cw.m.logger.Warn("config watcher", "err", err)
		case <-debounce:
			debounce = nil
			cw.m.reload("file changed")
		}
	}
}

// reload re-reads the config and applies the fields that are safe to
// change live; the others are reported as needing a restart.
func (m *Main) reload(why string) {
	if m.ConfigPath == "" {
		m.logger.Info("reload requested but no config file is in use", "why", why)
		return
	}
	next, err := m.flags.load()
	if err != nil {
		m.logger.Error("config reload rejected; keeping the running config", "why", why, "err", err)
		m.metrics.reloadErrors.Inc()
		return
	}
	m.apply(next, why)
}

// apply installs the reloadable fields of next.
func (m *Main) apply(next Config, why string) {
	cur := *m.cfg.Load()
	m.proxy.SetPolicy(policy(next))
	m.memory.Resize(int64(next.Memory.MaxBytes))
	m.origin.Budget().SetSlots(next.Origin.Concurrency)
	if l, err := parseLevel(next.Log.Level); err == nil {
		m.level.Set(l)
	}
	// Everything else needs a restart; say so rather than half-apply it.
	live := cur
	live.Cache.BypassCookies, live.Cache.BypassPaths = next.Cache.BypassCookies, next.Cache.BypassPaths
	live.Cache.NegativeTTL, live.Cache.UncacheableTTL = next.Cache.NegativeTTL, next.Cache.UncacheableTTL
	live.Cache.LockTimeout, live.Cache.MaxWaiters = next.Cache.LockTimeout, next.Cache.MaxWaiters
	live.Memory.MaxBytes, live.Origin.Concurrency, live.Log.Level = next.Memory.MaxBytes, next.Origin.Concurrency, next.Log.Level
	live.Store.Admit, live.Store.AdmitWindow = next.Store.Admit, next.Store.AdmitWindow
	live.Origin.MissRatePerClient, live.Origin.MissBurstPerClient = next.Origin.MissRatePerClient, next.Origin.MissBurstPerClient
	if !reflect.DeepEqual(live, next) {
		m.logger.Warn("config reloaded, but some changed fields apply only after a restart", "why", why)
	}
	m.cfg.Store(&live)
	m.metrics.reloads.Inc()
	m.logger.Info("config reloaded", "why", why)
}
