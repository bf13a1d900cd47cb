package cacher

import (
	"bytes"
	"io"
	"reflect"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Encoded carries a cached object to watchers and encodes it once per
// encoder for all of them, as upstream's cachingObject does: one Pod change
// fans out to the Job controller, the scheduler, the node agent, the garbage
// collector and clients, and each of them used to encode it anew.
//
// Encoders of k8s.io/apimachinery recognise it as a runtime.CacheableObject.
// Code that needs the object itself calls GetObject, whose result is shared
// and must not be mutated.
type Encoded struct {
	obj runtime.Object

	mu  sync.Mutex
	enc []encoding // one per encoder used; rarely more than two
}

type encoding struct {
	id   runtime.Identifier
	data []byte
	err  error
}

var (
	_ runtime.Object          = (*Encoded)(nil)
	_ runtime.CacheableObject = (*Encoded)(nil)
)

func newEncoded(obj runtime.Object) *Encoded { return &Encoded{obj: obj} }

// CacheEncode implements runtime.CacheableObject: the first call for an
// encoder id encodes, later ones copy the result.
func (o *Encoded) CacheEncode(id runtime.Identifier, encode func(runtime.Object, io.Writer) error, w io.Writer) error {
	o.mu.Lock()
	e, ok := o.lookup(id)
	if !ok {
		var buf bytes.Buffer
		// Encoders set the object's apiVersion and kind while they work:
		// give them a copy of the shared object's top level.
		e = encoding{id: id, err: encode(ShallowCopy(o.obj), &buf)}
		e.data = buf.Bytes()
		o.enc = append(o.enc, e)
	}
	o.mu.Unlock()
	if e.err != nil {
		return e.err
	}
	_, err := w.Write(e.data)
	return err
}

func (o *Encoded) lookup(id runtime.Identifier) (encoding, bool) {
	for _, e := range o.enc {
		if e.id == id {
			return e, true
		}
	}
	return encoding{}, false
}

// GetObject implements runtime.CacheableObject. The object is shared.
func (o *Encoded) GetObject() runtime.Object { return o.obj }

// GetObjectKind implements runtime.Object.
func (o *Encoded) GetObjectKind() schema.ObjectKind { return o.obj.GetObjectKind() }

// DeepCopyObject implements runtime.Object.
func (o *Encoded) DeepCopyObject() runtime.Object { return newEncoded(o.obj.DeepCopyObject()) }

// ShallowCopy copies the struct obj points to, sharing everything below it.
// Encoders set apiVersion and kind on what they encode: objects shared with
// the watch cache are handed to them as such a copy.
func ShallowCopy(obj runtime.Object) runtime.Object {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return obj
	}
	c := reflect.New(v.Elem().Type())
	c.Elem().Set(v.Elem())
	return c.Interface().(runtime.Object)
}
