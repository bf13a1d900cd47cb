package generic

import (
	"context"
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/skiff-sh/skiff/internal/storage"
)

// OptimisticLockErrorMsg is upstream's message for an update that lost a race.
const OptimisticLockErrorMsg = "the object has been modified; please apply your changes to the latest version and try again"

// The interpret functions translate storage sentinels into API errors once,
// at the registry's edge, as upstream's storeerr package does.

func (s *Store) interpretGetError(err error, name string) error {
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return apierrors.NewNotFound(s.cfg.Resource, name)
	case isUnavailable(err):
		return apierrors.NewServerTimeout(s.cfg.Resource, "get", 2)
	}
	return apierrors.NewInternalError(err)
}

func (s *Store) interpretCreateError(err error, name string) error {
	switch {
	case errors.Is(err, storage.ErrExists):
		return apierrors.NewAlreadyExists(s.cfg.Resource, name)
	case isUnavailable(err):
		return apierrors.NewServerTimeout(s.cfg.Resource, "create", 2)
	}
	return apierrors.NewInternalError(err)
}

func (s *Store) interpretUpdateError(err error, name string) error {
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return apierrors.NewNotFound(s.cfg.Resource, name)
	case errors.Is(err, storage.ErrConflict):
		return apierrors.NewConflict(s.cfg.Resource, name, errors.New(OptimisticLockErrorMsg))
	case isUnavailable(err):
		return apierrors.NewServerTimeout(s.cfg.Resource, "update", 2)
	}
	return apierrors.NewInternalError(err)
}

func (s *Store) interpretDeleteError(err error, name string) error {
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return apierrors.NewNotFound(s.cfg.Resource, name)
	case errors.Is(err, storage.ErrConflict):
		return apierrors.NewConflict(s.cfg.Resource, name, err)
	case isUnavailable(err):
		return apierrors.NewServerTimeout(s.cfg.Resource, "delete", 2)
	}
	return apierrors.NewInternalError(err)
}

func isUnavailable(err error) bool {
	return errors.Is(err, storage.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

// passThrough keeps API errors produced inside a transform as they are.
func passThrough(err error) (error, bool) {
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		return err, true
	}
	return nil, false
}
