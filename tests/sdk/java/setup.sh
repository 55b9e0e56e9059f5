#!/usr/bin/env bash
# Builds the Java SDK client, idempotently: Maven fetches the pinned dependencies of pom.xml into target/lib (once per
# pom.xml; Maven's own cache is ~/.m2), javac compiles Client.java into target/classes (once per change). Installs
# Debian's JDK and Maven when missing.
set -euo pipefail
cd "$(dirname "$0")"
exec 9>.setup.lock
flock 9
if ! command -v javac >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
  [ "$(id -u)" -eq 0 ] || { echo "sdk/java/setup: install Debian's default-jdk-headless and maven" >&2; exit 1; }
  echo "sdk/java/setup: installing Debian's default-jdk-headless and maven" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends default-jdk-headless maven >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends default-jdk-headless maven >/dev/null; }
fi
if [ ! -f target/lib/.azwi-installed ] || ! cmp -s pom.xml target/lib/.azwi-installed; then
  echo "sdk/java/setup: fetching the dependencies of pom.xml" >&2
  rm -rf target/lib
  mvn -q -B dependency:copy-dependencies -DoutputDirectory=target/lib -DincludeScope=runtime
  cp pom.xml target/lib/.azwi-installed
fi
if [ ! -f target/classes/Client.class ] || [ Client.java -nt target/classes/Client.class ]; then
  mkdir -p target/classes
  javac -d target/classes -cp 'target/lib/*' Client.java
fi
