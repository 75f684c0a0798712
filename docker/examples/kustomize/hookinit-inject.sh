#!/bin/sh
# kustomize runs an exec function with no arguments.
exec hookinit inject --krm "$@"
