package generic

import (
	"bytes"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"

	"github.com/skiff-sh/skiff/internal/scheme"
)

func benchJob() *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default", UID: "8d1c7f5e-2b6a-4f3e-9c1d-0a7b6e5d4c3b",
			Labels: map[string]string{"job-name": "pi", "controller-uid": "8d1c7f5e-2b6a-4f3e-9c1d-0a7b6e5d4c3b"}},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "pi", Image: "perl", Command: []string{"perl", "-MMath::BigFloat", "-le", "print Math::BigFloat->bpi(2000)"}}},
		}}},
	}
}

// BenchmarkCodec measures the storage encoding (protobuf) and the default
// wire encoding of kubectl (JSON) for a Job, both ways.
func BenchmarkCodec(b *testing.B) {
	gv := batchv1.SchemeGroupVersion
	ps := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)
	info, _ := runtime.SerializerInfoForMediaType(scheme.Codecs.SupportedMediaTypes(), runtime.ContentTypeJSON)
	codecs := map[string]runtime.Codec{
		"protobuf": scheme.Codecs.CodecForVersions(ps, ps, gv, gv),
		"json":     scheme.Codecs.CodecForVersions(info.Serializer, info.Serializer, gv, gv),
	}
	for name, codec := range codecs {
		var buf bytes.Buffer
		if err := codec.Encode(benchJob(), &buf); err != nil {
			b.Fatal(err)
		}
		data := buf.Bytes()
		b.Run(name+"/encode", func(b *testing.B) {
			job := benchJob()
			var out bytes.Buffer
			b.ReportAllocs()
			for b.Loop() {
				out.Reset()
				if err := codec.Encode(job, &out); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/decode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := codec.Decode(data, nil, &batchv1.Job{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
