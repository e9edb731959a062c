//! The greeter of the `grpc_greeter` example: messages, server and client of
//! this `helloworld.proto`, written by hand with prost's `Message` derive and
//! tonic's codec, server and client helpers, as `tonic-build` would generate
//! them (without needing `protoc` to build):
//!
//! ```text
//! syntax = "proto3";
//! package helloworld;
//!
//! service Greeter {
//!   rpc SayHello (HelloRequest) returns (HelloReply);
//!   rpc SayHelloStream (HelloRequest) returns (stream HelloReply);
//! }
//!
//! message HelloRequest { string name = 1; uint32 count = 2; }
//! message HelloReply { string message = 1; }
//! ```
//!
//! `SayHello` greets any name but an empty one (`INVALID_ARGUMENT`) and
//! [`NOBODY`] (`NOT_FOUND`). `SayHelloStream` sends `count` greetings, at
//! most [`MAX_GREETINGS`]: asked for more, it sends that many and ends the
//! stream with `RESOURCE_EXHAUSTED`.

use std::convert::Infallible;
use std::task::{Context, Poll};

use tonic::body::Body;
use tonic::client::GrpcService;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::codegen::{
    Body as HttpBody, BoxFuture, BoxStream, Bytes, Service, StdError, http, tokio_stream,
};
use tonic::server::{NamedService, ServerStreamingService, UnaryService};
use tonic::{Request, Response, Status, Streaming};
use tonic_prost::ProstCodec;
use tracing::info;

/// The full name of the service.
pub const SERVICE: &str = "helloworld.Greeter";

/// The path of `SayHello`.
pub const SAY_HELLO: &str = "/helloworld.Greeter/SayHello";

/// The path of `SayHelloStream`.
pub const SAY_HELLO_STREAM: &str = "/helloworld.Greeter/SayHelloStream";

/// The name the greeter does not know: `SayHello` answers it `NOT_FOUND`.
pub const NOBODY: &str = "nobody";

/// The most greetings one `SayHelloStream` call sends.
pub const MAX_GREETINGS: u32 = 3;

/// Whom to greet, and how many times (for `SayHelloStream`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloRequest {
    /// The name of the person to greet.
    #[prost(string, tag = "1")]
    pub name: String,
    /// How many greetings `SayHelloStream` sends.
    #[prost(uint32, tag = "2")]
    pub count: u32,
}

/// A greeting.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloReply {
    /// The greeting's text.
    #[prost(string, tag = "1")]
    pub message: String,
}

/// `SayHello`: a greeting, or why there is none.
///
/// # Errors
///
/// `INVALID_ARGUMENT` for an empty name, `NOT_FOUND` for [`NOBODY`].
pub fn say_hello(request: &HelloRequest) -> Result<HelloReply, Status> {
    let name = request.name.as_str();
    if name.is_empty() {
        return Err(Status::invalid_argument(
            "the name is empty: send the name of the person to greet",
        ));
    }
    if name == NOBODY {
        info!(name, "no one to greet");
        return Err(Status::not_found(format!("there is no one called {name}")));
    }
    info!(name, "greeting");
    Ok(HelloReply {
        message: format!("Hello, {name}!"),
    })
}

/// `SayHelloStream`: the greetings to send, and the error that ends the
/// stream when more than [`MAX_GREETINGS`] were asked for.
fn say_hello_stream(request: &HelloRequest) -> Vec<Result<HelloReply, Status>> {
    let sent = request.count.min(MAX_GREETINGS);
    let mut replies: Vec<_> = (1..=sent)
        .map(|i| {
            Ok(HelloReply {
                message: format!("Hello, {} ({i}/{})!", request.name, request.count),
            })
        })
        .collect();
    if request.count > MAX_GREETINGS {
        info!(asked = request.count, sent, "too many greetings asked");
        replies.push(Err(Status::resource_exhausted(format!(
            "{} greetings asked, at most {MAX_GREETINGS} are sent per call",
            request.count
        ))));
    }
    replies
}

/// The greeter's server: a tower service that tonic's router serves
/// (`Server::builder().add_service(GreeterServer)`).
#[derive(Debug, Clone, Copy, Default)]
pub struct GreeterServer;

impl NamedService for GreeterServer {
    const NAME: &'static str = SERVICE;
}

/// The `SayHello` handler, for tonic's server helper.
struct SayHello;

impl UnaryService<HelloRequest> for SayHello {
    type Response = HelloReply;
    type Future = BoxFuture<Response<HelloReply>, Status>;

    fn call(&mut self, request: Request<HelloRequest>) -> Self::Future {
        let reply = say_hello(request.get_ref()).map(Response::new);
        Box::pin(std::future::ready(reply))
    }
}

/// The `SayHelloStream` handler, for tonic's server helper.
struct SayHelloStream;

impl ServerStreamingService<HelloRequest> for SayHelloStream {
    type Response = HelloReply;
    type ResponseStream = BoxStream<HelloReply>;
    type Future = BoxFuture<Response<Self::ResponseStream>, Status>;

    fn call(&mut self, request: Request<HelloRequest>) -> Self::Future {
        let replies = say_hello_stream(request.get_ref());
        let stream: Self::ResponseStream = Box::pin(tokio_stream::iter(replies));
        Box::pin(std::future::ready(Ok(Response::new(stream))))
    }
}

impl<B> Service<http::Request<B>> for GreeterServer
where
    B: HttpBody + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let mut grpc = tonic::server::Grpc::new(ProstCodec::<HelloReply, HelloRequest>::default());
        match request.uri().path() {
            SAY_HELLO => Box::pin(async move { Ok(grpc.unary(SayHello, request).await) }),
            SAY_HELLO_STREAM => {
                Box::pin(async move { Ok(grpc.server_streaming(SayHelloStream, request).await) })
            }
            _ => Box::pin(std::future::ready(Ok(Status::unimplemented(
                "the greeter has no such method",
            )
            .into_http()))),
        }
    }
}

/// The greeter's client, over any gRPC channel (a tonic `Channel`, or one
/// wrapped in middleware).
#[derive(Debug, Clone)]
pub struct GreeterClient<T> {
    inner: tonic::client::Grpc<T>,
}

impl<T> GreeterClient<T>
where
    T: GrpcService<Body>,
    T::Error: Into<StdError>,
    T::ResponseBody: HttpBody<Data = Bytes> + Send + 'static,
    <T::ResponseBody as HttpBody>::Error: Into<StdError> + Send,
{
    /// A client that calls through `channel`.
    pub fn new(channel: T) -> Self {
        Self {
            inner: tonic::client::Grpc::new(channel),
        }
    }

    /// Calls `SayHello`.
    ///
    /// # Errors
    ///
    /// The status the server answered, or the channel's failure as a status.
    pub async fn say_hello(&mut self, request: HelloRequest) -> Result<HelloReply, Status> {
        self.ready().await?;
        let codec = ProstCodec::<HelloRequest, HelloReply>::default();
        let path = PathAndQuery::from_static(SAY_HELLO);
        let response = self.inner.unary(Request::new(request), path, codec).await?;
        Ok(response.into_inner())
    }

    /// Calls `SayHelloStream`; read the greetings with
    /// [`Streaming::message`].
    ///
    /// # Errors
    ///
    /// The status the server answered before its first message, or the
    /// channel's failure as a status.
    pub async fn say_hello_stream(
        &mut self,
        request: HelloRequest,
    ) -> Result<Streaming<HelloReply>, Status> {
        self.ready().await?;
        let codec = ProstCodec::<HelloRequest, HelloReply>::default();
        let path = PathAndQuery::from_static(SAY_HELLO_STREAM);
        let response = self
            .inner
            .server_streaming(Request::new(request), path, codec)
            .await?;
        Ok(response.into_inner())
    }

    async fn ready(&mut self) -> Result<(), Status> {
        self.inner.ready().await.map_err(|error| {
            Status::unavailable(format!("the channel is not ready: {}", error.into()))
        })
    }
}
