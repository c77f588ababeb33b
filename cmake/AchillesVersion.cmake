# ACHILLES_VERSION_FULL: the project version plus `git describe` when configured from a git
# checkout; the plain project version from a tarball (no .git) or when git is missing.
# -DACHILLES_VERSION_STRING=... overrides (packagers). A commit re-runs the configure step, so the
# version follows HEAD without a manual reconfigure.
function(achilles_detect_version out)
  if(ACHILLES_VERSION_STRING)
    set(${out} "${ACHILLES_VERSION_STRING}" PARENT_SCOPE)
    return()
  endif()
  set(v "${PROJECT_VERSION}")
  find_package(Git QUIET)
  if(GIT_FOUND)
    execute_process(COMMAND ${GIT_EXECUTABLE} rev-parse --git-dir
                    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR} RESULT_VARIABLE rc OUTPUT_VARIABLE gitdir
                    OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(rc EQUAL 0)
      # Only a checkout of this project, not an enclosing repository of an unpacked tarball.
      execute_process(COMMAND ${GIT_EXECUTABLE} rev-parse --show-toplevel
                      WORKING_DIRECTORY ${PROJECT_SOURCE_DIR} OUTPUT_VARIABLE top
                      OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
      get_filename_component(top "${top}" REALPATH)
      get_filename_component(src "${PROJECT_SOURCE_DIR}" REALPATH)
      if(top STREQUAL src)
        execute_process(COMMAND ${GIT_EXECUTABLE} describe --tags --match "v[0-9]*" --dirty
                        WORKING_DIRECTORY ${PROJECT_SOURCE_DIR} RESULT_VARIABLE drc OUTPUT_VARIABLE desc
                        OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
        if(NOT drc EQUAL 0)  # no release tag yet: version + abbreviated commit
          execute_process(COMMAND ${GIT_EXECUTABLE} describe --always --dirty
                          WORKING_DIRECTORY ${PROJECT_SOURCE_DIR} RESULT_VARIABLE drc OUTPUT_VARIABLE hash
                          OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
          if(drc EQUAL 0 AND hash)
            set(desc "${PROJECT_VERSION}+g${hash}")
          endif()
        endif()
        if(desc)
          set(v "${desc}")
        endif()
        execute_process(COMMAND ${GIT_EXECUTABLE} rev-parse --git-path logs/HEAD
                        WORKING_DIRECTORY ${PROJECT_SOURCE_DIR} OUTPUT_VARIABLE log
                        OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
        if(log AND NOT IS_ABSOLUTE "${log}")
          set(log "${PROJECT_SOURCE_DIR}/${log}")
        endif()
        if(log AND EXISTS "${log}")
          set_property(DIRECTORY ${PROJECT_SOURCE_DIR} APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${log}")
        endif()
      endif()
    endif()
  endif()
  set(${out} "${v}" PARENT_SCOPE)
endfunction()
