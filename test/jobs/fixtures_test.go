package jobs

import (
	"math/rand/v2"
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Images the upstream fixtures use (imageutils.BusyBox and the pause image).
const (
	busyboxImage = "registry.k8s.io/e2e-test-images/busybox:1.37.0-1"
	pauseImage   = "registry.k8s.io/pause:3.10.1"
)

// jobSelectorKey is the fixture's pod template label (e2ejob.JobSelectorKey).
const jobSelectorKey = "job"

// newTestJob is e2ejob.NewTestJob.
func newTestJob(behavior, name string, rPol corev1.RestartPolicy, parallelism, completions int32, activeDeadlineSeconds *int64, backoffLimit int32) *batchv1.Job {
	return newTestJobOnNode(behavior, name, rPol, parallelism, completions, activeDeadlineSeconds, backoffLimit, "")
}

// newTestJobOnNode is e2ejob.NewTestJobOnNode: the same Job, shape for
// shape (busybox container "c", a /data emptyDir, an empty security
// context, manualSelector false), with the behaviour's command.
func newTestJobOnNode(behavior, name string, rPol corev1.RestartPolicy, parallelism, completions int32, activeDeadlineSeconds *int64, backoffLimit int32, nodeName string) *batchv1.Job {
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		TypeMeta:   metav1.TypeMeta{Kind: "Job"},
		Spec: batchv1.JobSpec{
			ActiveDeadlineSeconds: activeDeadlineSeconds,
			Parallelism:           &parallelism,
			Completions:           &completions,
			BackoffLimit:          &backoffLimit,
			ManualSelector:        ptr.To(false),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{jobSelectorKey: name}},
				Spec: corev1.PodSpec{
					RestartPolicy: rPol,
					Volumes:       []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
					Containers: []corev1.Container{{
						Name:            "c",
						Image:           busyboxImage,
						Command:         []string{},
						VolumeMounts:    []corev1.VolumeMount{{MountPath: "/data", Name: "data"}},
						SecurityContext: &corev1.SecurityContext{},
					}},
				},
			},
		},
	}
	if nodeName != "" {
		job.Spec.Template.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": nodeName}
	}
	setBehavior(job, behavior)
	return job
}

// setBehavior sets the fixture's command for behavior; unknown behaviours
// (as "succeeded" in the successPolicy spec) keep the busybox default, sh.
func setBehavior(job *batchv1.Job, behavior string) {
	spec := &job.Spec.Template.Spec
	c := &spec.Containers[0]
	switch behavior {
	case "neverTerminate":
		c.Command = []string{"sleep", "1000000"}
		spec.TerminationGracePeriodSeconds = ptr.To(int64(1))
	case "notTerminate":
		c.Image = pauseImage
	case "fail":
		c.Command = []string{"/bin/sh", "-c", "exit 1"}
	case "failOddSucceedEven":
		c.Command = []string{"sh", "-c"}
		c.Args = []string{`
			if [ $(expr ${JOB_COMPLETION_INDEX} % 2) -ne 0 ]; then
				exit 1
			else
				exit 0
			fi
			`}
	case "succeed":
		c.Command = []string{"/bin/sh", "-c", "exit 0"}
	case "randomlySucceedOrFail":
		c.Command = []string{"/bin/sh", "-c", "exit $(( $RANDOM / 16384 ))"}
	case "failOnce":
		setupHostPathDirectory(job)
		c.Command = []string{"/bin/sh", "-c"}
		c.Args = []string{`
			if [[ -r /data/foo ]]
			then
				exit 0
			else
				touch /data/foo
				exit 1
			fi
		`}
	case "failOncePerIndex":
		setupHostPathDirectory(job)
		c.Command = []string{"/bin/sh", "-c"}
		c.Args = []string{`
			if [[ -r /data/foo-$JOB_COMPLETION_INDEX ]]
			then
				exit 0
			else
				touch /data/foo-$JOB_COMPLETION_INDEX
				exit 42
			fi
		`}
	case "notTerminateOncePerIndex":
		setupHostPathDirectory(job)
		spec.TerminationGracePeriodSeconds = ptr.To(int64(1))
		c.Command = []string{"/bin/sh", "-c"}
		c.Args = []string{`
			if [[ -r /data/foo-$JOB_COMPLETION_INDEX ]]
			then
				exit 0
			else
				touch /data/foo-$JOB_COMPLETION_INDEX
				sleep 1000000
			fi
		`}
	}
}

// setupHostPathDirectory swaps the data volume for a random hostPath
// directory when the Job is pinned to a node, so a marker file outlives
// the pod that wrote it.
func setupHostPathDirectory(job *batchv1.Job) {
	if _, pinned := job.Spec.Template.Spec.NodeSelector["kubernetes.io/hostname"]; !pinned {
		return
	}
	dir := "/tmp/job-e2e/" + randomString(10)
	job.Spec.Template.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
		Path: dir, Type: ptr.To(corev1.HostPathDirectoryOrCreate),
	}}
	job.Spec.Template.Spec.Containers[0].SecurityContext.Privileged = ptr.To(true)
}

// randomString is utilrand.String: lower-case consonants and digits.
func randomString(n int) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return string(b)
}

// itoa is strconv.Itoa for int32.
func itoa(n int32) string { return strconv.Itoa(int(n)) }
