// The one translation unit that compiles Asio and Beast (BOOST_*_SEPARATE_COMPILATION is set project-wide),
// so the rest of the code includes only declarations and the build stays fast on two cores.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
