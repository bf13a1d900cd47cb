package cacher

import (
	"bytes"
	"io"
	"sync"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
)

// TestEncoded_EncodesOncePerEncoder: many watchers encoding one shared event
// get the bytes a plain encode gives, the encoder runs once per encoder, and
// the shared object is left as it was (encoders set apiVersion and kind).
func TestEncoded_EncodesOncePerEncoder(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", ResourceVersion: "7"}}
	gv := corev1.SchemeGroupVersion
	var want [2][]byte
	for i, mt := range []string{runtime.ContentTypeProtobuf, runtime.ContentTypeJSON} {
		info, _ := runtime.SerializerInfoForMediaType(scheme.Codecs.SupportedMediaTypes(), mt)
		var buf bytes.Buffer
		if err := scheme.Codecs.EncoderForVersion(info.Serializer, gv).Encode(pod.DeepCopy(), &buf); err != nil {
			t.Fatal(err)
		}
		want[i] = buf.Bytes()
	}

	enc := newEncoded(pod)
	var calls [2]atomic.Int32
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			i := w % 2
			mt := []string{runtime.ContentTypeProtobuf, runtime.ContentTypeJSON}[i]
			info, _ := runtime.SerializerInfoForMediaType(scheme.Codecs.SupportedMediaTypes(), mt)
			codec := scheme.Codecs.EncoderForVersion(info.Serializer, gv)
			var buf bytes.Buffer
			err := enc.CacheEncode(codec.Identifier(), func(obj runtime.Object, w io.Writer) error {
				calls[i].Add(1)
				return codec.Encode(obj, w)
			}, &buf)
			if err != nil {
				t.Error(err)
				return
			}
			if !bytes.Equal(buf.Bytes(), want[i]) {
				t.Errorf("%s: encoding differs from a plain encode", mt)
			}
		})
	}
	wg.Wait()
	for i := range calls {
		if n := calls[i].Load(); n != 1 {
			t.Errorf("encoder %d ran %d times, want 1", i, n)
		}
	}
	if pod.APIVersion != "" || pod.Kind != "" {
		t.Errorf("shared object was changed: apiVersion %q kind %q", pod.APIVersion, pod.Kind)
	}
	if enc.GetObject() != pod {
		t.Error("GetObject does not return the shared object")
	}

	// Through a codec, the way the watch handler encodes it.
	info, _ := runtime.SerializerInfoForMediaType(scheme.Codecs.SupportedMediaTypes(), runtime.ContentTypeJSON)
	var buf bytes.Buffer
	if err := scheme.Codecs.EncoderForVersion(info.Serializer, gv).Encode(enc, &buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want[1]) {
		t.Errorf("codec.Encode(*Encoded) = %s, want %s", buf.Bytes(), want[1])
	}
}
