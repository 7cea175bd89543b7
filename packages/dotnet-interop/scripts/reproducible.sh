# Sourced by build.sh and publish-agent.sh: the global MSBuild properties that make a NativeAOT
# agent's bytes independent of the machine that builds it (global, so they reach referenced
# projects too). Add the machine-specific PathMap beside them: tars_path_map DIR=/_/NAME ...
#
# - DisableImplicitLibraryPacksFolder: the F# SDK's bundled FSharp.Core is not a restore source;
#   it has the registry's version number but other bytes, and restore took whichever source
#   answered first, so lock files did not hold across machines (NU1403).
# - ObjCopyName=objcopy: the symbol stripper is GNU objcopy everywhere (NativeAOT prefers
#   llvm-objcopy when installed, which orders the sections differently).
TARS_DOTNET_REPRODUCIBLE=(-p:DisableImplicitLibraryPacksFolder=true -p:ObjCopyName=objcopy)

# -p:PathMap=FROM=TO,... (commas escaped for the MSBuild command line): source paths in the
# output do not depend on where the checkout lives.
tars_path_map() {
  local IFS=,
  local joined="$*"
  echo "-p:PathMap=${joined//,/%2C}"
}
