package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// etcdStore implements Interface over an etcd v3 client: an in-process one
// for the embedded server or a networked one for an external cluster. Both
// take the same code path.
type etcdStore struct {
	client *clientv3.Client
	// local, for the embedded server, watches its MVCC store directly.
	local *localWatches
	// prefix is prepended to every key ("/registry"), so several Skiffs or
	// other tenants can share one etcd cluster.
	prefix string
}

var _ Interface = (*etcdStore)(nil)

// NewEtcd returns an Interface that stores keys under prefix in etcd. The
// caller owns client and closes it after the store is no longer used.
func NewEtcd(client *clientv3.Client, prefix string) Interface {
	return &etcdStore{client: client, prefix: strings.TrimSuffix(prefix, "/")}
}

func (s *etcdStore) Get(ctx context.Context, key string) (KeyValue, error) {
	resp, err := s.client.Get(ctx, s.prefix+key)
	if err != nil {
		return KeyValue{}, interpret(err)
	}
	if len(resp.Kvs) == 0 {
		return KeyValue{}, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return s.toKV(resp.Kvs[0]), nil
}

func (s *etcdStore) List(ctx context.Context, prefix, startKey string, revision, limit int64) ([]KeyValue, int64, bool, error) {
	from := s.prefix + prefix
	if startKey != "" {
		from = s.prefix + startKey
	}
	end := clientv3.GetPrefixRangeEnd(s.prefix + prefix)
	opts := []clientv3.OpOption{clientv3.WithRange(end)}
	if revision > 0 {
		opts = append(opts, clientv3.WithRev(revision))
	}
	if limit > 0 {
		opts = append(opts, clientv3.WithLimit(limit))
	}
	resp, err := s.client.Get(ctx, from, opts...)
	if err != nil {
		return nil, 0, false, interpret(err)
	}
	kvs := make([]KeyValue, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		kvs = append(kvs, s.toKV(kv))
	}
	return kvs, resp.Header.Revision, resp.More, nil
}

func (s *etcdStore) Count(ctx context.Context, prefix, startKey string, revision int64) (int64, error) {
	from := s.prefix + prefix
	if startKey != "" {
		from = s.prefix + startKey
	}
	opts := []clientv3.OpOption{clientv3.WithRange(clientv3.GetPrefixRangeEnd(s.prefix + prefix)), clientv3.WithCountOnly()}
	if revision > 0 {
		opts = append(opts, clientv3.WithRev(revision))
	}
	resp, err := s.client.Get(ctx, from, opts...)
	if err != nil {
		return 0, interpret(err)
	}
	return resp.Count, nil
}

func (s *etcdStore) Create(ctx context.Context, key string, value []byte) (int64, error) {
	k := s.prefix + key
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, string(value))).
		Commit()
	if err != nil {
		return 0, interpret(err)
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("%s: %w", key, ErrExists)
	}
	return resp.Header.Revision, nil
}

func (s *etcdStore) Update(ctx context.Context, key string, value []byte, expectedRevision int64) (int64, error) {
	k := s.prefix + key
	cmp := clientv3.Compare(clientv3.ModRevision(k), "=", expectedRevision)
	if expectedRevision == 0 {
		cmp = clientv3.Compare(clientv3.CreateRevision(k), ">", 0)
	}
	resp, err := s.client.Txn(ctx).If(cmp).
		Then(clientv3.OpPut(k, string(value))).
		Else(clientv3.OpGet(k)).
		Commit()
	if err != nil {
		return 0, interpret(err)
	}
	if !resp.Succeeded {
		return 0, s.conflict(key, resp)
	}
	return resp.Header.Revision, nil
}

func (s *etcdStore) Delete(ctx context.Context, key string, expectedRevision int64) (KeyValue, int64, error) {
	k := s.prefix + key
	cmp := clientv3.Compare(clientv3.ModRevision(k), "=", expectedRevision)
	if expectedRevision == 0 {
		cmp = clientv3.Compare(clientv3.CreateRevision(k), ">", 0)
	}
	resp, err := s.client.Txn(ctx).If(cmp).
		Then(clientv3.OpDelete(k, clientv3.WithPrevKV())).
		Else(clientv3.OpGet(k)).
		Commit()
	if err != nil {
		return KeyValue{}, 0, interpret(err)
	}
	if !resp.Succeeded {
		return KeyValue{}, 0, s.conflict(key, resp)
	}
	del := resp.Responses[0].GetResponseDeleteRange()
	if del == nil || len(del.PrevKvs) == 0 {
		return KeyValue{}, 0, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return s.toKV(del.PrevKvs[0]), resp.Header.Revision, nil
}

// conflict turns a failed compare into an error carrying the current value
// that the Else branch read.
func (s *etcdStore) conflict(key string, resp *clientv3.TxnResponse) error {
	get := resp.Responses[0].GetResponseRange()
	if get == nil || len(get.Kvs) == 0 {
		return fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return &ConflictError{Key: key, Current: s.toKV(get.Kvs[0])}
}

func (s *etcdStore) Watch(ctx context.Context, prefix string, fromRevision int64) <-chan WatchResult {
	if s.local != nil {
		return s.local.watch(ctx, s.prefix+prefix, s.prefix, fromRevision)
	}
	out := make(chan WatchResult, 100)
	// No WithPrevKV, unlike upstream's etcd3 watcher: the watch cache holds
	// every key's last value already, and etcd reads each previous value
	// with a range of its own, in the one goroutine that sends this watch's
	// events. Under load that delayed every in-process informer by tens of
	// milliseconds, and stale informers mean conflicting writes.
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithProgressNotify()}
	if fromRevision > 0 {
		opts = append(opts, clientv3.WithRev(fromRevision+1))
	}
	// Require a leader so a partitioned member ends the watch instead of
	// going silent.
	wch := s.client.Watch(clientv3.WithRequireLeader(ctx), s.prefix+prefix, opts...)
	go func() {
		defer close(out)
		for resp := range wch {
			if !deliver(ctx, out, s.toWatchResult(resp)) {
				return
			}
		}
		if ctx.Err() == nil {
			select {
			case out <- WatchResult{Err: fmt.Errorf("etcd watch on %s ended: %w", prefix, ErrUnavailable)}:
			case <-ctx.Done():
			}
		}
	}()
	return out
}

// deliver sends res to a watch's channel and reports whether the watch goes
// on: not once ctx ended or after an error.
func deliver(ctx context.Context, out chan<- WatchResult, res WatchResult) bool {
	select {
	case out <- res:
		return res.Err == nil
	case <-ctx.Done():
		return false
	}
}

// compactedResult ends a watch whose start etcd has compacted away.
func compactedResult(compactRevision int64) WatchResult {
	return WatchResult{Err: fmt.Errorf("watch from compacted revision (compacted at %d): %w", compactRevision, ErrCompacted)}
}

func (s *etcdStore) toWatchResult(resp clientv3.WatchResponse) WatchResult {
	if resp.CompactRevision != 0 {
		return compactedResult(resp.CompactRevision)
	}
	if err := resp.Err(); err != nil {
		return WatchResult{Err: interpret(err)}
	}
	if resp.IsProgressNotify() {
		return WatchResult{Progress: resp.Header.Revision}
	}
	// No progress from a response with events: a catching-up watcher's
	// batches carry etcd's current revision while later events are still
	// to come.
	events := make([]Event, 0, len(resp.Events))
	for _, ev := range resp.Events {
		events = append(events, toEvent(ev, s.prefix))
	}
	return WatchResult{Events: events}
}

func (s *etcdStore) RequestProgress(ctx context.Context) error {
	if s.local != nil {
		s.local.requestProgress()
		return nil
	}
	if err := s.client.RequestProgress(clientv3.WithRequireLeader(ctx)); err != nil {
		return interpret(err)
	}
	return nil
}

func (s *etcdStore) CurrentRevision(ctx context.Context) (int64, error) {
	// A count-only range read is linearizable and touches no values.
	resp, err := s.client.Get(ctx, s.prefix+"/", clientv3.WithCountOnly(), clientv3.WithLimit(1))
	if err != nil {
		return 0, interpret(err)
	}
	return resp.Header.Revision, nil
}

func (s *etcdStore) Compact(ctx context.Context, revision int64) error {
	_, err := s.client.Compact(ctx, revision)
	if err != nil && !errors.Is(err, rpctypes.ErrCompacted) {
		return interpret(err)
	}
	return nil
}

func (s *etcdStore) Ready(ctx context.Context) error {
	_, err := s.CurrentRevision(ctx)
	return err
}

func (s *etcdStore) toKV(kv *mvccpb.KeyValue) KeyValue {
	return KeyValue{Key: strings.TrimPrefix(string(kv.Key), s.prefix), Value: kv.Value, Revision: kv.ModRevision}
}

// interpret maps client errors to the package sentinels, keeping the cause.
func interpret(err error) error {
	switch {
	case errors.Is(err, rpctypes.ErrCompacted):
		return fmt.Errorf("%w: %w", ErrCompacted, err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return err
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.Unavailable, codes.DeadlineExceeded:
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	return fmt.Errorf("etcd: %w", err)
}
