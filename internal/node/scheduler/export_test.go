package scheduler

// Exported for the external tests of package scheduler_test (they live
// outside the package because they start a real server, which imports it).
const ReasonAffinity = reasonAffinity

var FitMessage = fitMessage
