// Package javatest compiles the Java programs of a test package (its
// testdata/java stubs: Flink's classes of the same names and
// serialVersionUIDs, and the programs that use them) once per test binary
// and runs them, so that tests check our bytes against the JVM itself.
//
// It is for tests only: nothing in the product imports it. TestData is the
// Program of the tested package's testdata/java. A package that uses it
// calls Main from its TestMain, which removes the compiled classes
// when the tests end. Tests skip (saying so) only when no JDK is installed:
// javac or java not on PATH. A Program may be used from several tests and
// goroutines; it compiles on first use (javac runs once, under sync.Once).
// Run returns the program's standard output, the caller's to keep.
package javatest
