# Run at build time (cmake -P): writes OUT, a C++ source that defines
# mesh::api::DashboardAssets() over the files in FILES (a "|"-separated list), each served
# under its file name. The bytes are written as an unsigned char array (no string-literal
# delimiter can clash with a file's content); the ETag is the content's SHA-256.
cmake_minimum_required(VERSION 3.25)
if(NOT OUT OR NOT FILES)
  message(FATAL_ERROR "EmbedFiles.cmake: pass -DOUT=<file.cc> -DFILES=<a|b|...>")
endif()
string(REPLACE "|" ";" _files "${FILES}")
set(_arrays "")
set(_table "")
set(_names "")
set(_i 0)
foreach(_f IN LISTS _files)
  if(NOT EXISTS "${_f}")
    message(FATAL_ERROR "EmbedFiles.cmake: ${_f} does not exist")
  endif()
  get_filename_component(_name "${_f}" NAME)
  if(_name IN_LIST _names)
    message(FATAL_ERROR "EmbedFiles.cmake: two files are named ${_name}; dashboard assets are "
                        "served by file name and must be unique")
  endif()
  list(APPEND _names "${_name}")
  file(READ "${_f}" _hex HEX)
  file(SHA256 "${_f}" _sha)
  string(LENGTH "${_hex}" _hex_len)
  math(EXPR _size "${_hex_len} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," _bytes "${_hex}")
  # ~100 bytes a line keeps the generated file readable by editors and compilers alike.
  string(REGEX REPLACE "((0x..,){100})" "\\1\n" _bytes "${_bytes}")
  string(APPEND _arrays "// ${_name}\nconst unsigned char kFile${_i}[] = {\n${_bytes}0};\n\n")
  string(APPEND _table
         "      {\"${_name}\", Bytes(kFile${_i}, ${_size}), \"\\\"${_sha}\\\"\"},\n")
  math(EXPR _i "${_i} + 1")
endforeach()
set(_text "// Generated at build time by cmake/EmbedFiles.cmake: edit the files under web/dashboard/
// and sdk/js/, not this one.
#include \"dashboard_assets.h\"

namespace mesh::api {
namespace {

std::string_view Bytes(const unsigned char* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

${_arrays}}  // namespace

const std::vector<DashboardAsset>& DashboardAssets() {
  static const auto* assets = new std::vector<DashboardAsset>{
${_table}  };
  return *assets;
}

}  // namespace mesh::api
")
# Rewritten only when it changes, so an unchanged asset list does not recompile the file.
if(EXISTS "${OUT}")
  file(READ "${OUT}" _old)
  if(_old STREQUAL _text)
    return()
  endif()
endif()
file(WRITE "${OUT}" "${_text}")
