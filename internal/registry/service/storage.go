package service

import (
	"context"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-sh/skiff/internal/scheme"
	"github.com/skiff-sh/skiff/internal/storage"
)

// Storage returns the storage the services store must use: it passes every
// call through and, once a Service key is gone or its write definitely
// failed, releases the claims that Service no longer holds.
//
//   - Create failing with ErrExists (name taken): the new Service's claims.
//   - Update succeeding: the old object's claims the new one dropped (type
//     changed to ExternalName or ClusterIP, ports removed); failing on a
//     conflict: the claims the attempted object added (the store's retry
//     claims again).
//   - Delete succeeding: every claim of the deleted object.
//
// Other failures (etcd unavailable, timeouts) release nothing: the write may
// have happened, and Repair frees what was really leaked.
func (a *Allocator) Storage() storage.Interface { return &claimingStorage{Interface: a.st, a: a} }

type claimingStorage struct {
	storage.Interface
	a *Allocator
}

var _ storage.Interface = (*claimingStorage)(nil)

func (s *claimingStorage) Create(ctx context.Context, key string, value []byte) (int64, error) {
	rev, err := s.Interface.Create(ctx, key, value)
	if errors.Is(err, storage.ErrExists) {
		s.releaseDiff(ctx, value, nil)
	}
	return rev, err
}

func (s *claimingStorage) Update(ctx context.Context, key string, value []byte, expectedRevision int64) (int64, error) {
	// The stored object tells which claims the update drops; one extra read
	// per Service update, which is rare next to reads.
	old, gerr := s.Interface.Get(ctx, key)
	rev, err := s.Interface.Update(ctx, key, value, expectedRevision)
	if gerr != nil {
		return rev, err
	}
	switch {
	case err == nil:
		s.releaseDiff(ctx, old.Value, value)
	case errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound):
		s.releaseDiff(ctx, value, old.Value)
	}
	return rev, err
}

func (s *claimingStorage) Delete(ctx context.Context, key string, expectedRevision int64) (storage.KeyValue, int64, error) {
	kv, rev, err := s.Interface.Delete(ctx, key, expectedRevision)
	if err == nil {
		s.releaseDiff(ctx, kv.Value, nil)
	}
	return kv, rev, err
}

// releaseDiff releases the claims of from's Service that keep's Service
// (nil: none) does not hold. Errors are logged: the write already happened
// and Repair frees what is left.
func (s *claimingStorage) releaseDiff(ctx context.Context, from, keep []byte) {
	svc, err := decodeService(from)
	if err != nil {
		s.a.logger.Error("releasing service claims", "err", err)
		return
	}
	var kept []string
	if keep != nil {
		keepSvc, err := decodeService(keep)
		if err != nil {
			s.a.logger.Error("releasing service claims", "err", err)
			return
		}
		if keepSvc.UID == svc.UID {
			kept = claimKeys(keepSvc)
		}
	}
	for _, key := range claimKeys(svc) {
		if slices.Contains(kept, key) {
			continue
		}
		if err := s.a.release(ctx, key, string(svc.UID)); err != nil {
			s.a.logger.Error("releasing service claim", "key", key, "service", svc.Namespace+"/"+svc.Name, "err", err)
		}
	}
}

// decodeService decodes a stored Service (protobuf, as the store writes it).
func decodeService(data []byte) (*corev1.Service, error) {
	obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(data, nil, &corev1.Service{})
	if err != nil {
		return nil, fmt.Errorf("decoding service: %w", err)
	}
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil, fmt.Errorf("decoding service: got %T", obj)
	}
	return svc, nil
}
