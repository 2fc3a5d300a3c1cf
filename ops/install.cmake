# What `cmake --install` puts where (GNUInstallDirs), for a Debian package
# (debian/rules) as for a plain `cmake --install build --prefix /usr/local`.
#
#   psymon                                  ${bindir}
#   psymon-collector, psymon-aggregator     ${sbindir} (daemons, section 8)
#   psymon-*.service                        PSY_SYSTEMD_UNITDIR, pointing at the
#                                           installed daemons and ${sysconfdir}/psymon
#   sysusers.d/psymon.conf                  the system user "psymon"
#   tmpfiles.d/psymon.conf                  the state folders, the inbox, ${sysconfdir}/psymon
#   man pages                               ${mandir}/man1, man5, man8
#   bash completion                         PSY_BASH_COMPLETION_DIR/psymon
#   docs/*.md, README.md                    ${docdir}
#   example configurations                  ${docdir}/examples (never a live
#                                           configuration: it would need keys)
include(GNUInstallDirs)

set(PSY_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING
    "systemd system unit folder, relative to the prefix or absolute (Debian: /lib/systemd/system)")
set(PSY_SYSUSERS_DIR "lib/sysusers.d" CACHE STRING "sysusers.d folder, relative to the prefix")
set(PSY_TMPFILES_DIR "lib/tmpfiles.d" CACHE STRING "tmpfiles.d folder, relative to the prefix")
set(PSY_BASH_COMPLETION_DIR "${CMAKE_INSTALL_DATAROOTDIR}/bash-completion/completions" CACHE STRING
    "bash-completion folder, relative to the prefix")
set(PSY_CONFDIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}/psymon")

install(TARGETS psymon-cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS psymon-collector psymon-aggregator RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})

# The units in ops/systemd are written for the Debian layout (/usr/sbin,
# /etc/psymon) so that they can be read, verified and copied as they are;
# the installed copies name the daemons and the configuration where this
# build puts them.
foreach(unit psymon-collector psymon-aggregator)
    set(src ${CMAKE_CURRENT_SOURCE_DIR}/ops/systemd/${unit}.service)
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${src})
    file(READ ${src} text)
    string(REPLACE "/usr/sbin/${unit} " "${CMAKE_INSTALL_FULL_SBINDIR}/${unit} " text "${text}")
    string(REPLACE "/etc/psymon/" "${PSY_CONFDIR}/" text "${text}")
    file(GENERATE OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/ops/systemd/${unit}.service CONTENT "${text}")
    install(FILES ${CMAKE_CURRENT_BINARY_DIR}/ops/systemd/${unit}.service
            DESTINATION ${PSY_SYSTEMD_UNITDIR})
endforeach()

# tmpfiles.d names the configuration folder too.
set(src ${CMAKE_CURRENT_SOURCE_DIR}/ops/tmpfiles.d/psymon.conf)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${src})
file(READ ${src} text)
string(REPLACE " /etc/psymon " " ${PSY_CONFDIR} " text "${text}")
file(GENERATE OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/ops/tmpfiles.d/psymon.conf CONTENT "${text}")
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/ops/tmpfiles.d/psymon.conf DESTINATION ${PSY_TMPFILES_DIR})
install(FILES ops/sysusers.d/psymon.conf DESTINATION ${PSY_SYSUSERS_DIR})

install(FILES man/psymon.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES man/psymon.conf.5 DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
install(FILES man/psymon-collector.8 man/psymon-aggregator.8
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)

install(FILES ops/completion/psymon DESTINATION ${PSY_BASH_COMPLETION_DIR})

install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR} FILES_MATCHING PATTERN "*.md")
install(FILES ops/examples/aggregator.conf ops/examples/collector.conf
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
